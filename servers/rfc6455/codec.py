"""RFC 6455 by hand, with no I/O: the handshake's accept key and frames (lesson 06).

``encode_frame`` builds the bytes of one frame; ``decode_frame`` takes bytes as they arrive and
returns ``(Frame, bytes consumed)`` once a whole frame is there, ``None`` before. Payloads come
back unmasked. The length rule (7 bits, or 126 and 16 bits, or 127 and 64 bits) is written once
each way: ``encode_header`` writes it, ``parse_header`` reads it; ``split_frames`` and
``iter_frames`` cut a stream into frames. ``ProtocolError`` names what a peer got wrong; the
server closes with 1002.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455 section 1.3: appended to the client's key before hashing."""

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = {CONTINUATION, TEXT, BINARY}
CONTROL_OPCODES = {CLOSE, PING, PONG}
OPCODE_NAMES = {
    CONTINUATION: "continuation",
    TEXT: "text",
    BINARY: "binary",
    CLOSE: "close",
    PING: "ping",
    PONG: "pong",
}


class ProtocolError(ValueError):
    """Bytes that break RFC 6455's framing rules."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()  # noqa: S324 (the RFC's choice)
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Frame:
    """One frame: ``fin``, ``opcode``, ``payload`` (unmasked) and whether it came ``masked``."""

    fin: bool
    opcode: int
    payload: bytes
    masked: bool = False


def encode_header(
    opcode: int, length: int, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """The bytes before a payload of ``length`` bytes: 2, 4 or 10, plus the masking key."""
    if opcode not in DATA_OPCODES | CONTROL_OPCODES:
        raise ValueError(f"opcode {opcode:#x} is reserved")
    if opcode in CONTROL_OPCODES and (length > 125 or not fin):
        raise ValueError("a control frame carries at most 125 bytes and cannot be fragmented")
    if mask is not None and len(mask) != 4:
        raise ValueError("a masking key is exactly 4 bytes")
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:  # the length rule, writing: 7 bits, or 126 + 16 bits, or 127 + 64 bits
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    return bytes(head) + (mask or b"")


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """The bytes of one frame; ``mask`` is the 4-byte key a client must use (RFC 6455 5.3)."""
    head = encode_header(opcode, len(payload), fin=fin, mask=mask)
    return head + (payload if mask is None else apply_mask(payload, mask))


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeating 4-byte key; masking and unmasking are the same operation."""
    if not payload:
        return b""
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


@dataclass(frozen=True)
class Header:
    """What a frame's first 2 to 14 bytes say; ``size`` is their count, ``length`` the payload's."""

    fin: bool
    opcode: int
    masked: bool
    mask: bytes
    length: int
    size: int

    @property
    def end(self) -> int:
        """Bytes from the frame's start to its end: header and payload."""
        return self.size + self.length


def header_size(second: int) -> int:
    """How many bytes the header takes, from its second byte alone (MASK and the 7-bit length)."""
    return {126: 4, 127: 10}.get(second & 0x7F, 2) + (4 if second & 0x80 else 0)


def parse_header(buffer: bytes) -> Header | None:
    """The header at the start of ``buffer``, or ``None`` until all of it is there;
    ``ProtocolError`` as soon as the bytes in break a rule."""
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
    if first & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    if opcode not in DATA_OPCODES | CONTROL_OPCODES:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    if opcode in CONTROL_OPCODES and (length > 125 or not fin):
        raise ProtocolError("control frames carry at most 125 bytes and cannot be fragmented")
    size, masked = header_size(second), bool(second & 0x80)
    extended = size - 2 - (4 if masked else 0)  # the length rule, reading: 0, 2 or 8 more bytes
    if len(buffer) < 2 + extended:
        return None
    if extended:
        length = int.from_bytes(buffer[2 : 2 + extended], "big")
        if length >> 63:
            raise ProtocolError("the most significant bit of a 64-bit length must be 0")
    if len(buffer) < size:
        return None
    mask = bytes(buffer[size - 4 : size]) if masked else b""
    return Header(fin, opcode, masked, mask, length, size)


def decode_frame(buffer: bytes) -> tuple[Frame, int] | None:
    """The first frame in ``buffer`` and how many bytes it used, or ``None`` if incomplete."""
    header = parse_header(buffer)
    if header is None or len(buffer) < header.end:
        return None
    payload = bytes(buffer[header.size : header.end])
    if header.masked:
        payload = apply_mask(payload, header.mask)
    return Frame(header.fin, header.opcode, payload, header.masked), header.end


def iter_frames(
    buffer: bytes, check: Callable[[Header], None] | None = None
) -> Iterator[tuple[Frame, memoryview]]:
    """Each whole frame at the start of ``buffer``, with what follows it (a view, not a copy, so
    a buffer of many frames is cut in linear time), one at a time; ``check(header)`` sees each
    header as soon as it is in, before its payload has arrived."""
    rest = memoryview(buffer)
    while (header := parse_header(rest)) is not None:
        if check is not None:
            check(header)
        if (decoded := decode_frame(rest)) is None:
            return
        frame, used = decoded
        rest = rest[used:]
        yield frame, rest


def split_frames(buffer: bytes) -> tuple[list[Frame], bytes]:
    """Every whole frame at the start of ``buffer``, and the bytes after them (a frame not
    whole yet)."""
    frames, rest = [], memoryview(buffer)
    for frame, rest in iter_frames(buffer):  # noqa: B007 (what the last step leaves)
        frames.append(frame)
    return frames, bytes(rest)
