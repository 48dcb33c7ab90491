"""Header bytes per poll over HTTP/1.1 and over HTTP/2, counted where each protocol frames them
(lesson 13).

Both clients send the same request headers (``POLL_HEADERS``, the ones headless Chromium 156
sent with a ``fetch()``, recorded from its NetLog) on one TLS connection, ``polls`` times in a
row. Over HTTP/1.1 a request's and a response's headers are the text up to the blank line
(request or status line included). Over HTTP/2 they are the HEADERS frames of that stream,
9-byte frame header included, compressed with HPACK (RFC 7541): the client encodes with the
``h2`` library, and the server's frames are read as they arrive with ``hyperframe``. TLS adds
the same record overhead to both, so it is left out.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame

POLL_HEADERS = [
    ("sec-ch-ua-platform", '"Linux"'),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/156.0.0.0 Safari/537.36",
    ),
    ("sec-ch-ua", '"Not:A-Brand";v="8", "Chromium";v="156"'),
    ("sec-ch-ua-mobile", "?0"),
    ("accept", "*/*"),
    ("origin", "http://localhost:8888"),
    ("sec-fetch-site", "cross-site"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
    ("referer", "http://localhost:8888/"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-US,en;q=0.9"),
    ("priority", "u=1, i"),
]
"""A browser poll's request headers after the pseudo-headers, in Chromium's order: recorded
(``HTTP2_SESSION_SEND_HEADERS`` in its NetLog, 2026-12-01) for a ``fetch()`` from a page on
``http://localhost:PORT`` to lesson 13's HTTPS origin, the page's port put at 8888 (where a
JupyterLab usually is)."""


@dataclass(frozen=True)
class Poll:
    """One poll's header bytes on the wire: ``up`` (request) and ``down`` (response)."""

    up: int
    down: int
    block: bytes = b""
    """HTTP/2 only: the request's HPACK-encoded header block, for a closer look."""

    @property
    def total(self) -> int:
        return self.up + self.down


def _tls(alpn: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the course's throwaway certificate
    context.set_alpn_protocols([alpn])
    return context


async def http1_polls(origin: str, paths: list[str]) -> list[Poll]:
    """A GET of each path, one after the other, on one HTTP/1.1 connection over TLS to
    ``origin`` (``https://host:port``)."""
    parts = urlsplit(origin)
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, ssl=_tls("http/1.1")
    )
    fields = f"host: {parts.netloc}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in POLL_HEADERS)
    result = []
    try:
        for path in paths:
            request = f"GET {path} HTTP/1.1\r\n{fields}\r\n".encode()
            writer.write(request)
            response_head = await reader.readuntil(b"\r\n\r\n")
            await _read_body(reader, response_head)
            result.append(Poll(up=len(request), down=len(response_head)))
    finally:
        writer.close()
    return result


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> None:
    """Read the body after ``head``: by its Content-Length, or chunk by chunk."""
    fields = dict(
        line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
    )
    if b"content-length" in fields:
        await reader.readexactly(int(fields[b"content-length"]))
        return
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readuntil(b"\r\n")  # the blank line after the last chunk


async def http2_polls(
    origin: str, paths: list[str], *, received: bytearray | None = None
) -> list[Poll]:
    """A GET of each path, one after the other, on one HTTP/2 connection over TLS; every byte
    the server sent (its frames, decrypted) is appended to ``received`` when given."""
    parts = urlsplit(origin)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=_tls("h2"))
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    frames = _FrameCounter()
    result = []
    try:
        for path in paths:
            headers = [
                (":method", "GET"),
                (":authority", parts.netloc),
                (":scheme", "https"),
                (":path", path),
                *POLL_HEADERS,
            ]
            stream_id = connection.get_next_available_stream_id()
            connection.send_headers(stream_id, headers, end_stream=True)
            sent = connection.data_to_send()  # exactly this request's HEADERS frame
            writer.write(sent)
            ended = False
            while not ended:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the HTTP/2 connection")
                frames.feed(data)
                if received is not None:
                    received += data
                for event in connection.receive_data(data):
                    ended = ended or (
                        isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id
                    )
                writer.write(connection.data_to_send())
            down = frames.header_bytes.pop(stream_id)
            result.append(Poll(up=len(sent), down=down, block=sent[9:]))
    finally:
        writer.close()
    return result


class _FrameCounter:
    """Splits the bytes a client receives into HTTP/2 frames and sums, per stream, the bytes of
    its HEADERS and CONTINUATION frames (frame headers included)."""

    def __init__(self) -> None:
        self._buffer = b""
        self.header_bytes: dict[int, int] = {}

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self._buffer[:9]))
            if len(self._buffer) < 9 + length:
                return
            if isinstance(frame, HeadersFrame | ContinuationFrame):
                self.header_bytes[frame.stream_id] = (
                    self.header_bytes.get(frame.stream_id, 0) + 9 + length
                )
            self._buffer = self._buffer[9 + length :]


def hpack_fields(blocks: list[bytes]) -> list[list[tuple[str, str, int]]]:
    """How each field of each request's HPACK block was sent, blocks in the order they went:
    ``(name, how, bytes)`` with ``how`` ``"indexed"`` (one integer naming a table entry, RFC
    7541 section 6.1) or ``"literal"`` (the value, and maybe the name, spelled out: section
    6.2), and ``bytes`` its size in the block. One decoder reads them all, so it holds the
    dynamic table the connection built."""
    import hpack

    decoder = hpack.Decoder()
    return [_walk(block, decoder) for block in blocks]


def _walk(block: bytes, decoder) -> list[tuple[str, str, int]]:
    fields, at = [], 0
    while at < len(block):
        start, first = at, block[at]
        if first & 0x80:  # indexed header field: one integer, 7-bit prefix
            at, how = _skip_integer(block, at, 7), "indexed"
        elif first & 0xE0 == 0x20:  # a dynamic table size update, not a field
            decoder.decode(block[start : _skip_integer(block, at, 5)])
            at = _skip_integer(block, at, 5)
            continue
        else:  # a literal: a name (an index, or spelled out), then the value spelled out
            prefix = 6 if first & 0x40 else 4
            after_index = _skip_integer(block, at, prefix)
            at = after_index if first & ((1 << prefix) - 1) else _skip_string(block, after_index)
            at, how = _skip_string(block, at), "literal"
        ((name, _),) = decoder.decode(block[start:at], raw=False)
        fields.append((name, how, at - start))
    return fields


def _skip_integer(block: bytes, at: int, prefix: int) -> int:
    if block[at] & ((1 << prefix) - 1) < (1 << prefix) - 1:
        return at + 1
    at += 1
    while block[at] & 0x80:
        at += 1
    return at + 1


def _skip_string(block: bytes, at: int) -> int:
    length_end = _skip_integer(block, at, 7)
    value = block[at] & 0x7F
    if value == 0x7F:  # a length of 127 or more continues in further bytes
        value, shift = 0x7F, 0
        for byte in block[at + 1 : length_end]:
            value += (byte & 0x7F) << shift
            shift += 7
    return length_end + value
