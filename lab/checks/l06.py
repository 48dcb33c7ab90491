"""Checks for exercise 06: the handshake's accept key and a frame decoder, held to RFC 6455's
examples, then run on bytes a live server sent."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable
from typing import Any

from lab.checks.core import CheckFailed, call, expect, fail, not_written, passed, short
from lab.frames import handshake, read_to_end
from servers.rfc6455 import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    accept_key,
    decode_frame,
    encode_frame,
    serve_echo,
)
from servers.rfc6455.codec import GUID

RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def check_06_accept_key(accept: Callable[[str], Any]) -> None:
    """Exercise 06.1: ``accept_key(key)`` returns the ``Sec-WebSocket-Accept`` value."""
    keys = [RFC_KEY] + [base64.b64encode(os.urandom(16)).decode() for _ in range(5)]
    for key in keys:
        got = call("06.1", accept, key)
        want = accept_key(key)
        if got == want:
            continue
        example = "RFC 6455's example key" if key == RFC_KEY else "the key"
        problem = f"accept_key({key!r}) returned {short(got)}; for {example} it is {want!r}."
        raise fail("06.1", problem, _accept_hint(key, got))
    passed("06.1", f"{len(keys)} keys, RFC 6455's example among them, answered as browsers expect.")


def _accept_hint(key: str, got: Any) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    sha1 = hashlib.sha1  # noqa: S324 (the RFC's choice)
    if isinstance(got, bytes):
        return 'return a str: base64.b64encode(...) gives bytes, so add .decode("ascii").'
    if not isinstance(got, str):
        return "return the base64 text, a str of 28 characters ending in '='."
    digest = sha1((key + GUID).encode()).digest()
    known = {
        sha1((key + GUID).encode()).hexdigest(): "that is the hex digest: base64-encode the 20 raw "
        "bytes of .digest() instead of returning .hexdigest().",
        b64(sha1((key + GUID).encode()).hexdigest().encode()): "you base64-encoded the hex text "
        "of the digest: encode the 20 raw bytes of .digest(), not .hexdigest().",
        b64(digest) + "\n": "base64.encodebytes adds a newline: use base64.b64encode.",
        b64(sha1(key.encode()).digest()): "you forgot to append the GUID "
        '"258EAFA5-E914-47DA-95CA-C5AB0DC85B11" to the key before hashing.',
        b64(sha1((GUID + key).encode()).digest()): "the GUID goes after the key, not before it.",
        b64(sha1((key + GUID.lower()).encode()).digest()): "the GUID is written in upper case, "
        "exactly as RFC 6455 gives it.",
        b64(sha1(base64.b64decode(key) + GUID.encode()).digest()): "hash the key as the text it "
        "is: do not base64-decode it first.",
        b64(hashlib.sha256((key + GUID).encode()).digest()): "the RFC uses SHA-1 "
        "(hashlib.sha1), not SHA-256.",
    }
    known[b64(digest).rstrip("=")] = (
        "keep the '=' padding: the base64 of 20 bytes is 28 characters, the last one '='."
    )
    known[base64.urlsafe_b64encode(digest).decode()] = (
        "use base64.b64encode, not urlsafe_b64encode: the answer uses the standard alphabet, "
        "with + and /, not - and _."
    )
    if got in known:
        return known[got]
    if key != RFC_KEY and got == RFC_ACCEPT:
        return ("that is the answer for RFC 6455's example key, not this one: concatenate the "
                "key's text and the GUID, SHA-1 the result, then base64-encode the digest.")
    for typo in _guid_typos():
        if got == b64(sha1((key + typo).encode()).digest()):
            return f"your GUID is {typo!r}; RFC 6455's is {GUID!r}: copy it exactly."
    if _looks_like_an_accept(got):
        return ("the answer has the right shape (base64 of 20 bytes), so the hashing is probably "
                "right but its input is not: hash exactly key + GUID, nothing between them, and "
                f"check the GUID character by character: {GUID}.")
    return ("concatenate the key's text and the GUID, SHA-1 the result (.digest(), 20 bytes), "
            "then base64-encode those bytes.")


def _looks_like_an_accept(got: str) -> bool:
    try:
        return len(base64.b64decode(got, validate=True)) == 20
    except (ValueError, TypeError):
        return False


def _guid_typos() -> list[str]:
    """The GUID with one character changed, dropped or swapped with the next, and other slips."""
    typos = {GUID.replace("-", ""), "{" + GUID + "}", " " + GUID, GUID + "\n", GUID + " "}
    alphabet = "0123456789ABCDEFOIl-"
    for i in range(len(GUID)):
        typos.add(GUID[:i] + GUID[i + 1 :])
        typos.update(GUID[:i] + c + GUID[i + 1 :] for c in alphabet)
        if i + 1 < len(GUID):
            typos.add(GUID[:i] + GUID[i + 1] + GUID[i] + GUID[i + 2 :])
    typos.discard(GUID)
    return sorted(typos)


def _case(what: str, data: bytes, frame: Frame, hint: str) -> tuple[str, bytes, Frame, str]:
    return what, data, frame, hint


HELLO = b"Hello"
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the RFC's examples' key
BIG = bytes(range(256)) * 256  # 64 KiB
LENGTH_16 = "length 126 means the next 2 bytes are the length (big-endian, struct '!H')."
LENGTH_64 = "length 127 means the next 8 bytes are the length (big-endian, struct '!Q')."
UNMASK = "XOR payload byte i with mask[i % 4]; the 4-byte key comes just before the payload."
RSV_HINT = ("the opcode is the low 4 bits of byte 0 only: first & 0x0F. The three RSV bits "
            "(0x70) sit between FIN and the opcode; ignore them.")
CASES = [
    _case(
        "RFC 6455 5.7: an unmasked text frame, \"Hello\"",
        bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]),
        Frame(True, TEXT, HELLO, False),
        "byte 0: FIN = first & 0x80, opcode = first & 0x0F; byte 1: MASK = second & 0x80, "
        "length = second & 0x7F; then the payload.",
    ),
    _case(
        "RFC 6455 5.7: a masked text frame, \"Hello\"",
        bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
        Frame(True, TEXT, HELLO, True),
        UNMASK,
    ),
    _case(
        "RFC 6455 5.7: the first fragment of \"Hel\"+\"lo\"",
        bytes([0x01, 0x03, 0x48, 0x65, 0x6C]),
        Frame(False, TEXT, b"Hel", False),
        "FIN is the top bit of byte 0 (0x80): 0 here, more fragments follow.",
    ),
    _case(
        "RFC 6455 5.7: the last fragment, a continuation frame",
        bytes([0x80, 0x02, 0x6C, 0x6F]),
        Frame(True, CONTINUATION, b"lo", False),
        "opcode 0 is a continuation: keep it as 0.",
    ),
    _case(
        "RFC 6455 5.7: an unmasked ping",
        bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]),
        Frame(True, PING, HELLO, False),
        "the opcode is the low 4 bits of byte 0: first & 0x0F (0x9 is a ping).",
    ),
    _case(
        "RFC 6455 5.7: a masked pong",
        bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
        Frame(True, PONG, HELLO, True),
        UNMASK,
    ),
    _case(
        "RFC 6455 5.7: 256 bytes of binary, unmasked (16-bit length)",
        bytes([0x82, 0x7E, 0x01, 0x00]) + BIG[:256],
        Frame(True, BINARY, BIG[:256], False),
        LENGTH_16,
    ),
    _case(
        "RFC 6455 5.7: 64 KiB of binary, unmasked (64-bit length)",
        bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + BIG,
        Frame(True, BINARY, BIG, False),
        LENGTH_64,
    ),
    _case(
        "a masked text frame of 300 bytes (16-bit length, then the key)",
        encode_frame(TEXT, b"abc" * 100, mask=MASK),
        Frame(True, TEXT, b"abc" * 100, True),
        "with a 16-bit length the masking key sits at bytes 4-7 and the payload starts at 8.",
    ),
    _case(
        "a masked binary frame of 70000 bytes (64-bit length, then the key)",
        encode_frame(BINARY, BIG[:70000 - 65536] + BIG, mask=b"\x01\x02\x03\x04"),
        Frame(True, BINARY, BIG[:70000 - 65536] + BIG, True),
        "with a 64-bit length the masking key sits at bytes 10-13 and the payload starts at 14.",
    ),
    _case(
        "an empty masked text frame",
        encode_frame(TEXT, b"", mask=MASK),
        Frame(True, TEXT, b"", True),
        "a masked frame carries its 4-byte key even when the payload is empty: consumed is 6.",
    ),
    _case(
        "a masked close frame, code 1000",
        encode_frame(CLOSE, struct.pack("!H", 1000) + b"bye", mask=MASK),
        Frame(True, CLOSE, struct.pack("!H", 1000) + b"bye", True),
        UNMASK,
    ),
]


RSV_FRAME = bytes([0xC1, 0x05]) + HELLO  # FIN and RSV1 set, opcode 1: RSV1 is compression's bit


def check_06_decode_frame(decode: Callable[[bytes], Any]) -> None:
    """Exercise 06.2: ``decode_frame(buffer)`` returns ``(Frame, consumed)`` or ``None``."""
    for what, data, want, hint in CASES:
        _expect_frame(decode, what, data, want, len(data), hint)
    first, second = CASES[1][1], CASES[6][1]
    _expect_frame(
        decode,
        "two frames back to back (a masked \"Hello\", then 256 bytes): only the first is decoded",
        first + second,
        CASES[1][2],
        len(first),
        "consumed is the size of the first frame alone, so the caller can cut it off and decode "
        "the rest next.",
    )
    _expect_rsv_ignored(decode)
    for what, data, _, _ in CASES:
        for size in _prefixes(len(data)):
            _expect_incomplete(decode, what, data, size)
    passed(
        "06.2",
        f"{len(CASES)} frames decoded (RFC 6455's examples, all three length forms, masked and "
        "not), the first of two, and None for every incomplete buffer.",
    )


def _expect_rsv_ignored(decode) -> None:
    """RSV1 set (byte 0 is 0xC1): the opcode is still 1. A strict decoder may refuse the frame
    instead, as "going further" suggests; one that folds RSV into the opcode is wrong."""
    try:
        got = decode(RSV_FRAME)
    except NotImplementedError:
        raise not_written("06.2", getattr(decode, "__name__", "decode_frame")) from None
    except CheckFailed:
        raise
    except Exception:  # noqa: BLE001 (a strict decoder rejecting RSV bits is right too)
        return
    what = "a text frame with RSV1 set (byte 0 is 0xC1: FIN, RSV1, opcode 1)"
    _expect_frame(decode, what, RSV_FRAME, Frame(True, TEXT, HELLO, False), len(RSV_FRAME),
                  RSV_HINT, got=got)


def _prefixes(size: int) -> list[int]:
    if size <= 400:
        return list(range(size))
    return list(range(16)) + [size // 2, size - 5, size - 1]


def _expect_frame(
    decode, what: str, data: bytes, want: Frame, used: int, hint: str, got: Any = None
) -> None:
    if got is None:
        got = call("06.2", decode, data)
    shown = f"\nBytes: {short(data, 80)}"
    expect(
        got is not None,
        "06.2",
        f"{what}: decode_frame returned None, but the buffer holds the whole frame "
        f"({len(data)} bytes).{shown}",
        hint,
    )
    expect(
        isinstance(got, tuple | list) and len(got) == 2,
        "06.2",
        f"{what}: decode_frame returned {short(got)}; expected a pair (frame, consumed), "
        "a tuple of two items.",
        "return a tuple: (Frame(fin, opcode, payload, masked), number of bytes the frame took).",
    )
    frame, consumed = got
    fields = {name: getattr(frame, name, "(missing)") for name in ("fin", "opcode", "payload")}
    fields["masked"] = getattr(frame, "masked", "(missing)")
    wanted = {"fin": want.fin, "opcode": want.opcode, "payload": want.payload,
              "masked": want.masked}
    wrong = [name for name in wanted if fields[name] != wanted[name]]
    if wrong:
        problem = f"{what}: " + "; ".join(
            f"{name} is {_shown(fields[name])}, expected {_shown(wanted[name])}" for name in wrong
        )
        raise fail("06.2", problem + shown, _frame_hint(data, want, fields, wrong, hint))
    after = (f"the buffer holds {_a(used)} {used}-byte frame followed by {len(data) - used} more "
             "bytes, so consumed should be " if len(data) > used else "the frame takes ")
    expect(
        consumed == used,
        "06.2",
        f"{what}: the frame is right but consumed is {short(consumed)}; {after}{used} "
        f"bytes (header, {'masking key, ' if want.masked else ''}payload).{shown}",
        "consumed = header bytes (2, 4 or 10) + 4 if masked + payload length; bytes after the "
        "frame belong to the next one.",
    )


def _a(number: int) -> str:
    """The article before a number said aloud: "an 8-byte", "an 11-byte", "a 16-byte"."""
    digits = str(number)
    eleven = len(digits) % 3 == 2 and digits[:2] in ("11", "18")
    return "an" if digits.startswith("8") or eleven else "a"


def _shown(value: Any) -> str:
    if isinstance(value, bytes | bytearray) and len(value) > 16:
        return f"{len(value)} bytes starting {short(bytes(value[:8]))}"
    return short(value, 60)


def _frame_hint(data: bytes, want: Frame, fields: dict, wrong: list[str], hint: str) -> str:
    payload = fields["payload"]
    if "payload" in wrong and want.masked and isinstance(payload, bytes | bytearray):
        start = len(data) - len(want.payload)
        if bytes(payload) == data[start:]:
            return "you forgot to unmask: " + UNMASK
        if bytes(payload) == data[start - 4 : start - 4 + len(want.payload)]:
            return "the payload starts after the 4-byte masking key, not at it."
        key = data[start - 4 : start]
        from_key = data[start - 4 : start - 4 + len(want.payload)]
        if bytes(payload) == bytes(b ^ key[i % 4] for i, b in enumerate(from_key)):
            return ("you unmasked from the masking key's offset: the XOR is right, but the "
                    "payload starts 4 bytes later, after the key (buffer[offset + 4:]).")
    if "payload" in wrong and isinstance(payload, bytes | bytearray) and want.payload:
        length7 = data[1] & 0x7F
        if length7 == 126 and len(payload) != len(want.payload):
            return LENGTH_16
        if length7 == 127 and len(payload) != len(want.payload):
            return LENGTH_64
    for name, byte in (("fin", 0), ("masked", 1)):
        if name in wrong and fields[name] == 0x80:
            return (f"{name} must be a bool: first & 0x80 is 128, not True; use "
                    f"bool(buffer[{byte}] & 0x80).")
    if wrong == ["masked"] and fields["masked"] is False and want.masked:
        return ("the payload is unmasked correctly, yet masked is False: pass masked as Frame's "
                "4th argument; it defaults to False.")
    if "opcode" in wrong and fields["opcode"] == data[0] & 0x7F:
        return RSV_HINT
    if "fin" in wrong:
        return "FIN is the top bit of byte 0: bool(first & 0x80)."
    if "opcode" in wrong:
        return "the opcode is the low 4 bits of byte 0: first & 0x0F."
    if "masked" in wrong:
        return "MASK is the top bit of byte 1: bool(second & 0x80)."
    if "payload" in wrong and not isinstance(payload, bytes):
        return "return the payload as bytes."
    return hint


def _expect_incomplete(decode, what: str, data: bytes, size: int) -> None:
    try:
        got = decode(data[:size])
    except NotImplementedError:
        raise not_written("06.2", getattr(decode, "__name__", "decode_frame")) from None
    except CheckFailed:
        raise
    except Exception as error:
        raise fail(
            "06.2",
            f"{what}: given only the first {size} of its {len(data)} bytes, decode_frame raised "
            f"{_error_name(error)}: {error}",
            "check that the buffer is long enough before reading each part (header, extended "
            "length, masking key, payload), and return None when it is not.",
        ) from None
    expect(
        got is None,
        "06.2",
        f"{what}: returned a frame for an incomplete buffer (the first {size} of {len(data)} "
        f"bytes): {short(got)}",
        "return None until the whole frame is there: the buffer needs the header, the extended "
        "length, the masking key and all `length` payload bytes.",
    )


def _error_name(error: Exception) -> str:
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


LIVE_MESSAGES: list[tuple[int, bytes]] = [
    (TEXT, "héllo, wire".encode()),
    (BINARY, bytes(range(256)) * 2),
    (TEXT, b"z" * 70_000),
    (PING, b"still there?"),
]


def capture_echo() -> bytes:
    """What serve_echo sends back for LIVE_MESSAGES and a close, as one byte string."""
    server = serve_echo(name="check-06")
    try:
        with handshake(server.host, server.port) as sock:
            for opcode, payload in LIVE_MESSAGES:
                sock.sendall(encode_frame(opcode, payload, mask=os.urandom(4)))
            sock.sendall(encode_frame(CLOSE, struct.pack("!H", 1000), mask=os.urandom(4)))
            return read_to_end(sock)
    finally:
        server.stop()


def check_06_live(split: Callable[[bytes], Any]) -> None:
    """Exercise 06.3: ``split_frames(buffer)`` returns ``(frames, rest)``, fed live bytes."""
    data = capture_echo()
    chunks = list(_chunks(data))
    found, buffer = [], b""
    for number, chunk in enumerate(chunks, 1):
        want_frames, want_rest = _split(buffer + chunk)
        result = call("06.3", split, buffer + chunk)
        expect(
            isinstance(result, tuple | list) and len(result) == 2,
            "06.3",
            f"split_frames returned {short(result)}; expected a pair (frames, rest).",
            "return (list of the whole frames, the bytes left after them).",
        )
        frames, rest = result
        if not isinstance(rest, bytes | bytearray):
            raise fail(
                "06.3",
                f"split_frames returned {short(rest)} as the rest; expected bytes.",
                'the rest is the bytes of the frame not complete yet (b"" if none).',
            )
        where = (f"chunk {number} of {len(chunks)}: given {_count(len(buffer + chunk), 'byte')} "
                 f"that hold {_count(len(want_frames), 'whole frame')} and "
                 f"{_count(len(want_rest), 'byte')} of the next")
        frames = list(frames)
        expect(
            len(frames) == len(want_frames),
            "06.3",
            f"{where}, split_frames returned {_count(len(frames), 'frame')}.",
            "loop: call decode_frame on what is left, cut off `consumed` bytes, and stop only "
            "when it returns None.",
        )
        expect(
            frames == want_frames,
            "06.3",
            f"{where}, the frames differ: {short(frames, 160)}; expected "
            f"{short(want_frames, 160)}.",
            "after each frame, continue from buffer[consumed:], not from the start.",
        )
        expect(
            bytes(rest) == want_rest,
            "06.3",
            f"{where}, the rest returned is {len(rest)} bytes, {short(bytes(rest), 60)}.",
            "return the bytes after the last whole frame: the start of a frame still arriving, "
            "which the next chunk completes. Dropping them loses the frame.",
        )
        found += frames
        buffer = bytes(rest)
    passed(
        "06.3",
        f"the live echo server's {len(data)} bytes, in {len(chunks)} chunks, split into its "
        f"{len(found)} frames: three echoes, a pong and the close.",
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _split(buffer: bytes) -> tuple[list[Frame], bytes]:
    frames = []
    while (decoded := decode_frame(buffer)) is not None:
        frames.append(decoded[0])
        buffer = buffer[decoded[1] :]
    return frames, buffer


def _chunks(data: bytes):
    """Cut ``data`` at awkward places: inside headers, keys and payloads."""
    sizes = [1, 2, 3, 5, 7, 11, 100, 1000, 30000]
    position, index = 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        yield data[position : position + size]
        position, index = position + size, index + 1
