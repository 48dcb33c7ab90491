"""RFC 6455 by hand, with no I/O: the handshake's accept key and frames (lesson 06).

``encode_frame`` builds the bytes of one frame; ``decode_frame`` takes bytes as they arrive and
returns ``(Frame, bytes consumed)`` once a whole frame is there, ``None`` before. Payloads come
back unmasked. ``ProtocolError`` names what a peer got wrong; the server closes with 1002.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455 section 1.3: appended to the client's key before hashing."""

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = {CONTINUATION, TEXT, BINARY}
CONTROL_OPCODES = {CLOSE, PING, PONG}


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


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """The bytes of one frame; ``mask`` is the 4-byte key a client must use (RFC 6455 5.3)."""
    if opcode not in DATA_OPCODES | CONTROL_OPCODES:
        raise ValueError(f"opcode {opcode:#x} is reserved")
    if opcode in CONTROL_OPCODES and (len(payload) > 125 or not fin):
        raise ValueError("a control frame carries at most 125 bytes and cannot be fragmented")
    if mask is not None and len(mask) != 4:
        raise ValueError("a masking key is exactly 4 bytes")
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + apply_mask(payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeating 4-byte key; masking and unmasking are the same operation."""
    if not payload:
        return b""
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def decode_frame(buffer: bytes) -> tuple[Frame, int] | None:
    """The first frame in ``buffer`` and how many bytes it used, or ``None`` if incomplete."""
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    fin, rsv, opcode = bool(first & 0x80), first & 0x70, first & 0x0F
    if rsv:
        raise ProtocolError("reserved bits set without a negotiated extension")
    if opcode not in DATA_OPCODES | CONTROL_OPCODES:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    masked, length, offset = bool(second & 0x80), second & 0x7F, 2
    if opcode in CONTROL_OPCODES and (length > 125 or not fin):
        raise ProtocolError("control frames carry at most 125 bytes and cannot be fragmented")
    if length == 126:
        if len(buffer) < 4:
            return None
        (length,), offset = struct.unpack("!H", buffer[2:4]), 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        (length,), offset = struct.unpack("!Q", buffer[2:10]), 10
        if length >> 63:
            raise ProtocolError("the most significant bit of a 64-bit length must be 0")
    mask = b""
    if masked:
        if len(buffer) < offset + 4:
            return None
        mask, offset = buffer[offset : offset + 4], offset + 4
    if len(buffer) < offset + length:
        return None
    payload = bytes(buffer[offset : offset + length])
    if masked:
        payload = apply_mask(payload, mask)
    return Frame(fin, opcode, payload, masked), offset + length


def frame_length(buffer: bytes) -> int | None:
    """The declared payload length of the frame starting ``buffer``, once its header is in."""
    if len(buffer) < 2:
        return None
    length = buffer[1] & 0x7F
    if length == 126:
        return struct.unpack("!H", buffer[2:4])[0] if len(buffer) >= 4 else None
    if length == 127:
        return struct.unpack("!Q", buffer[2:10])[0] if len(buffer) >= 10 else None
    return length
