"""A WebSocket echo server on raw asyncio streams, no WebSocket library (lesson 06).

It checks the upgrade request (400 for a malformed one, such as one without ``Host``, 426
with ``Sec-WebSocket-Version: 13`` for another version), answers 101, then echoes every message
back as one frame. It answers pings, completes the close handshake, and closes with 1002 for a
protocol error (an unmasked client frame, a frame left half-sent), 1007 for text that is not
UTF-8, and 1009 for a message larger than ``max_message``, before reading it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct

from servers.rfc6455.codec import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    ProtocolError,
    accept_key,
    decode_frame,
    encode_frame,
    frame_length,
)
from servers.runtime import Server, serve_streams

MAX_REQUEST = 8192
"""Bytes a handshake request may take."""


class Refused(Exception):
    """A handshake answered with an HTTP error instead of 101."""

    def __init__(self, status: int, reason: str, message: str, headers: str = "") -> None:
        super().__init__(message)
        self.response = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}"
            f"Content-Length: {len(message.encode())}\r\nConnection: close\r\n\r\n{message}"
        ).encode()


class Closing(Exception):
    """Close the connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def check_handshake(request: bytes) -> str:
    """The ``Sec-WebSocket-Accept`` for a valid upgrade request; ``Refused`` otherwise."""
    try:
        head = request.decode("ascii")
    except UnicodeDecodeError:
        raise Refused(400, "Bad Request", "the request is not ASCII") from None
    request_line, *header_lines = head.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        raise Refused(400, "Bad Request", "a WebSocket handshake is GET ... HTTP/1.1")
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise Refused(400, "Bad Request", f"malformed header line {line!r}")
            headers[name.strip().lower()] = value.strip()
    if not headers.get("host"):
        raise Refused(400, "Bad Request", "missing Host header")
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise Refused(400, "Bad Request", "missing Upgrade: websocket")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise Refused(400, "Bad Request", "missing Connection: Upgrade")
    if headers.get("sec-websocket-version") != "13":
        raise Refused(
            426, "Upgrade Required", "only version 13 is supported", "Sec-WebSocket-Version: 13\r\n"
        )
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        raise Refused(400, "Bad Request", "Sec-WebSocket-Key must be 16 bytes in base64") from None
    return accept_key(key)


def _tokens(value: str) -> list[str]:
    """A comma-separated header value as lower-case tokens: ``"keep-alive, Upgrade"``."""
    return [token.strip().lower() for token in value.split(",")]


def close_frame(code: int, reason: str = "") -> bytes:
    return encode_frame(CLOSE, struct.pack("!H", code) + reason.encode()[:123])


def make_echo_handler(*, max_message: int = 1 << 20, frame_timeout: float = 10.0):
    """The connection handler: handshake, then echo until either side closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), frame_timeout)
            if len(request) > MAX_REQUEST:
                raise Refused(400, "Bad Request", "the handshake request is too large")
            accept = check_handshake(request[:-4])
        except Refused as refusal:
            writer.write(refusal.response)
            return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        try:
            await _echo(reader, writer, max_message, frame_timeout)
        except Closing as closing:
            writer.write(close_frame(closing.code, closing.reason))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        await writer.drain()

    return handle


async def _echo(reader, writer, max_message: int, frame_timeout: float) -> None:
    buffer, message, kind = b"", b"", None
    while True:
        decoded = _decode(buffer)
        while decoded is None:
            declared = frame_length(buffer)
            if declared is not None and declared > max_message:
                raise Closing(1009, f"a frame of {declared} bytes is over {max_message}")
            timeout = frame_timeout if buffer else None  # quiet between frames is fine
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                raise Closing(1002, "a frame was left half-sent") from None
            if not chunk:
                return
            buffer += chunk
            decoded = _decode(buffer)
        frame, used = decoded
        buffer = buffer[used:]
        if not frame.masked:
            raise Closing(1002, "client frames must be masked")
        if frame.opcode == CLOSE:
            code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else 1000
            writer.write(close_frame(code if code in (1000, 1001) else 1000))
            return
        if frame.opcode == PING:
            writer.write(encode_frame(0xA, frame.payload))
            continue
        if frame.opcode not in (TEXT, BINARY, CONTINUATION):
            continue  # a pong
        if (frame.opcode == CONTINUATION) != (kind is not None):
            raise Closing(1002, "a continuation without a start, or a new message inside one")
        kind = kind if frame.opcode == CONTINUATION else frame.opcode
        message += frame.payload
        if len(message) > max_message:
            raise Closing(1009, f"the message is over {max_message} bytes")
        if frame.fin:
            if kind == TEXT:
                try:
                    message.decode("utf-8")
                except UnicodeDecodeError:
                    raise Closing(1007, "text messages must be UTF-8") from None
            writer.write(encode_frame(kind, message))
            await writer.drain()
            message, kind = b"", None


def _decode(buffer: bytes):
    try:
        return decode_frame(buffer)
    except ProtocolError as error:
        raise Closing(1002, str(error)) from None


def serve_echo(
    *,
    name: str | None = None,
    port: int = 0,
    max_message: int = 1 << 20,
    frame_timeout: float = 10.0,
) -> Server:
    """Start the echo server on the background loop; its URL is ``ws://127.0.0.1:PORT/``."""
    handler = make_echo_handler(max_message=max_message, frame_timeout=frame_timeout)
    return serve_streams(handler, name=name, port=port, scheme="ws", path="/")
