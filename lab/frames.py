"""WebSocket bytes made readable, and a raw client's few steps (lesson 06).

``explain(frame)`` prints a frame's header field by field (FIN, RSV, opcode, MASK, the length in
its 7-, 16- or 64-bit form, the masking key) and its payload. ``header_length`` is what framing
costs (the length rule itself is the codec's, ``parse_header`` and ``encode_header``).
``read_head`` and ``read_frame`` read exactly an HTTP head or one frame from a blocking socket,
so a cell can speak the protocol by hand; ``handshake`` does the upgrade in one call for
the cells that come after the lesson has done it by hand, and ``upgrade_request`` writes one.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

from servers.rfc6455 import (
    Frame,
    accept_key,
    decode_frame,
    encode_frame,
    parse_header,
    serve_echo,
    split_frames,
)
from servers.rfc6455.codec import (
    BINARY,
    CLOSE,
    CONTINUATION,
    OPCODE_NAMES,
    PING,
    PONG,
    TEXT,
    encode_header,
    header_size,
)


def header_length(payload_length: int, *, masked: bool) -> int:
    """Bytes before the payload: 2, 4 (16-bit length) or 10 (64-bit), plus 4 for a mask."""
    return len(encode_header(BINARY, payload_length, mask=bytes(4) if masked else None))


def describe(frame: bytes, *, shown: int = 8) -> list[tuple[str, str, str]]:
    """The rows ``explain`` prints: (which bytes, their hex, what they mean)."""
    first, second = frame[0], frame[1]
    head = parse_header(frame)
    opcode, length7 = first & 0x0F, second & 0x7F
    rsv = f"{(first >> 4) & 0x7:03b}"
    rows = [
        (
            "0",
            f"{first:02x}",
            f"{first >> 4:04b} {first & 0xF:04b}  FIN={first >> 7} RSV={rsv} "
            f"opcode={opcode:#x} ({OPCODE_NAMES.get(opcode, 'reserved')})",
        )
    ]
    forms = {126: "the next 2 bytes hold the length", 127: "the next 8 bytes hold the length"}
    meaning = forms.get(length7, f"length={length7} (7-bit form)")
    bits = f"{second >> 4:04b} {second & 0xF:04b}"
    rows.append(("1", f"{second:02x}", f"{bits}  MASK={int(head.masked)} {meaning}"))
    extended = head.size - 2 - len(head.mask)
    if extended:
        form = f"length={head.length} ({extended * 8}-bit form)"
        rows.append((_span(2, extended), _hex(frame[2 : 2 + extended]), form))
    if head.masked:
        rows.append((_span(head.size - 4, 4), _hex(head.mask), "masking key"))
    if head.length:
        decoded = decode_frame(frame)
        said = _payload_meaning(opcode, decoded[0].payload if decoded else b"")
        said = ("masked; unmasked: " if head.masked else "") + said
        payload = frame[head.size : head.end]
        rows.append((_span(head.size, head.length), _hex(payload, shown), f"payload, {said}"))
    return rows


def explain(frame: bytes, *, shown: int = 8) -> None:
    """Print one frame's bytes, field by field (only the first ``shown`` payload bytes)."""
    rows = describe(frame, shown=shown)
    width = max([14] + [len(h) for _, h, meaning in rows if not meaning.startswith("payload")])
    for where, hexes, meaning in rows:
        label = f"byte {where}" if "-" not in where else f"bytes {where}"
        if len(hexes) > width:  # a long payload: its meaning goes under it
            print(f"{label:<14} {hexes}\n{'':<14} {meaning}")
        else:
            print(f"{label:<14} {hexes:<{width}}  {meaning}")


def _span(start: int, size: int) -> str:
    return f"{start}" if size == 1 else f"{start}-{start + size - 1}"


def _hex(data: bytes, shown: int | None = None) -> str:
    if shown is not None and len(data) > shown:
        return data[:shown].hex(" ") + f" … ({len(data)} bytes)"
    return data.hex(" ")


def _payload_meaning(opcode: int, payload: bytes) -> str:
    if opcode == CLOSE and len(payload) >= 2:
        code = struct.unpack("!H", payload[:2])[0]
        return f"close code {code}, reason {payload[2:].decode('utf-8', 'replace')!r}"
    if opcode in (TEXT, PING, PONG, CONTINUATION) and len(payload) <= 40:
        return repr(payload)
    return f"{len(payload)} bytes"


def upgrade_request(host: str, port: int, key: str) -> str:
    """The upgrade request a client sends, with CRLF line ends and the blank line."""
    return (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    """``count`` bytes from ``sock``; ``ConnectionError`` if it closes first."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"the peer closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def read_head(sock: socket.socket) -> bytes:
    """An HTTP status line and headers, up to and including the blank line, and not a byte
    more (what follows a 101 is already WebSocket frames)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exactly(sock, 1)
    return head


def read_frame(sock: socket.socket) -> bytes:
    """The bytes of exactly one frame: the header says how many more to read."""
    data = recv_exactly(sock, 2)
    data += recv_exactly(sock, header_size(data[1]) - 2)
    return data + recv_exactly(sock, parse_header(data).length)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def handshake(host: str, port: int, timeout: float = 10.0) -> socket.socket:
    """A connected socket after a checked upgrade, ready for frames (lesson 06 does it by hand
    first). Close it when done."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(upgrade_request(host, port, key).encode())
        head = read_head(sock)
        if not head.startswith(b"HTTP/1.1 101 ") or accept_key(key).encode() not in head:
            raise ConnectionError(f"the upgrade failed: {head!r}")
    except BaseException:
        sock.close()
        raise
    return sock


LIVE_MESSAGES = [
    (TEXT, "héllo, wire".encode()),
    (BINARY, bytes(range(256)) * 2),
    (TEXT, b"z" * 70_000),
    (PING, b"still there?"),
]


def echo_session(messages: list[tuple[int, bytes]], name: str = "check-06") -> bytes:
    """Everything ``serve_echo`` sends back for ``messages`` (opcode, payload) and a close, sent
    masked and all at once, as one byte string: what exercise 06.3 splits into frames."""
    with serve_echo(name=name) as server, handshake(server.host, server.port) as sock:
        for opcode, payload in [*messages, (CLOSE, struct.pack("!H", 1000))]:
            sock.sendall(encode_frame(opcode, payload, mask=os.urandom(4)))
        return read_to_end(sock)


def handshake_answer(host: str, port: int, request: str, timeout: float = 10.0) -> bytes:
    """Send one upgrade request as written and return the answer's head and body (a refusal
    is followed by a close; a 101 by frames, which are not read)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.encode())
        head = read_head(sock)
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return head + recv_exactly(sock, length)


def answer_summary(answer: bytes) -> tuple[str, str]:
    """A handshake answer as (status line, what it says): the refusal's text and any
    ``Sec-WebSocket-Version`` it offers, or that frames follow a 101."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode("latin-1")
    if " 101 " in status:
        return status, "the connection now carries frames"
    said = body.decode("utf-8", "replace")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "sec-websocket-version":
            said += f" (and Sec-WebSocket-Version: {value.strip()})"
    return status, said


def frames_in(data: bytes) -> list[Frame]:
    """Every whole frame in ``data``, in order (the bytes of a half frame at the end are left)."""
    return split_frames(data)[0]
