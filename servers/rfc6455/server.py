"""A WebSocket echo server on raw asyncio streams, no WebSocket library (lesson 06).

It checks the upgrade request (400 for a malformed one, such as one without ``Host``, 426
with ``Sec-WebSocket-Version: 13`` for another version), answers 101, then echoes every message
back as one frame. Everything after the handshake (pings, the close handshake, 1002 for a
protocol error, 1007 for text that is not UTF-8, 1009 for a message over ``max_message``) is
``servers.rfc6455.connection.ServerConnection``'s, which has no I/O: ``echo`` is only the loop
that moves bytes between it and the socket, and closes with 1002 a frame left half-sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from servers.rfc6455.codec import BINARY, TEXT, accept_key
from servers.rfc6455.connection import ServerConnection
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


def switching_protocols(accept: str) -> bytes:
    """The ``101`` answer to a valid upgrade request."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )


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
        writer.write(switching_protocols(accept))
        try:
            await echo(ServerConnection(max_message=max_message), reader, writer, frame_timeout)
        except ConnectionError:
            return

    return handle


async def echo(connection: ServerConnection, reader, writer, frame_timeout: float) -> None:
    """The I/O around ``connection``: read, hand it the bytes, echo each message, write what
    it says to send; until it is closed. A frame left half-sent for ``frame_timeout`` fails
    it with 1002 (quiet between frames is fine)."""
    while not connection.closed:
        timeout = frame_timeout if connection.mid_frame else None
        try:
            data = await asyncio.wait_for(reader.read(65536), timeout)
        except TimeoutError:
            connection.fail(1002, "a frame was left half-sent")
        else:
            if not data:
                connection.receive_eof()
            connection.receive_data(data)
        echo_messages(connection)
        writer.write(connection.data_to_send())
        await writer.drain()


def echo_messages(connection: ServerConnection) -> None:
    """Queue every message ``connection`` received back to its sender, as one frame each
    (none once it has sent a close: after a protocol error, say)."""
    for event in connection.events_received():
        if not connection.can_send:
            return
        if event.opcode == TEXT:
            connection.send_text(event.text)
        elif event.opcode == BINARY:
            connection.send_binary(event.payload)


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
