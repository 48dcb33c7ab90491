"""WebSockets written by hand (lesson 06): a codec with no I/O, and a raw echo server on it."""

from servers.rfc6455.codec import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    ProtocolError,
    accept_key,
    decode_frame,
    encode_frame,
)
from servers.rfc6455.server import serve_echo

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "ProtocolError",
    "accept_key",
    "decode_frame",
    "encode_frame",
    "serve_echo",
]
