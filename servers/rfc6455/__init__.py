"""WebSockets written by hand (lesson 06): a codec and a connection with no I/O, and a raw echo
server that is a thin asyncio loop over them."""

from servers.rfc6455.codec import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    Header,
    ProtocolError,
    accept_key,
    decode_frame,
    encode_frame,
    parse_header,
    split_frames,
)
from servers.rfc6455.connection import Event, ServerConnection
from servers.rfc6455.server import serve_echo

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Event",
    "Frame",
    "Header",
    "ProtocolError",
    "ServerConnection",
    "accept_key",
    "decode_frame",
    "encode_frame",
    "parse_header",
    "serve_echo",
    "split_frames",
]
