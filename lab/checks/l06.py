"""Checks for exercise 06 (lesson 06): the handshake's accept key and a frame decoder, held to
RFC 6455's examples, then run on bytes a live server sent. Each check is a scenario (the inputs
and what the reference codec answers) and a table of known mistakes (what a wrong answer looks
like → the hint that names it)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from collections.abc import Callable
from itertools import accumulate, cycle, pairwise, takewhile
from typing import Any

from lab.checks import core
from lab.checks.core import CheckFailed, call, expect, fail, not_written, passed, short
from lab.frames import LIVE_MESSAGES, echo_session
from servers.rfc6455 import CLOSE, accept_key, decode_frame, encode_frame, split_frames
from servers.rfc6455.codec import BINARY, GUID, TEXT, Frame, apply_mask

RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _accept(text: str | bytes, digest: Callable = hashlib.sha1) -> str:
    """base64 of a digest of ``text``: the answer when ``text`` is key + GUID."""
    return _b64(digest(text.encode() if isinstance(text, str) else text).digest())


ACCEPT_MISTAKES: list[tuple[Callable[[str], str], str]] = [  # what it returns → the hint
    (
        lambda k: hashlib.sha1((k + GUID).encode()).hexdigest(),
        "that is the hex digest: "
        "base64-encode the 20 raw bytes of .digest() instead of returning .hexdigest().",
    ),
    (
        lambda k: _b64(hashlib.sha1((k + GUID).encode()).hexdigest().encode()),
        "you base64-encoded "
        "the hex text of the digest: encode the 20 raw bytes of .digest(), not .hexdigest().",
    ),
    (lambda k: _accept(k + GUID) + "\n", "base64.encodebytes adds a newline: use b64encode."),
    (
        lambda k: _accept(k),
        "you forgot to append the GUID "
        '"258EAFA5-E914-47DA-95CA-C5AB0DC85B11" to the key before hashing.',
    ),
    (lambda k: _accept(GUID + k), "the GUID goes after the key, not before it."),
    (
        lambda k: _accept(k + GUID.lower()),
        "the GUID is written in upper case, exactly as RFC 6455 gives it.",
    ),
    (
        lambda k: _accept(base64.b64decode(k) + GUID.encode()),
        "hash the key as the text it is: do not base64-decode it first.",
    ),
    (
        lambda k: _accept(k + GUID, hashlib.sha256),
        "the RFC uses SHA-1 (hashlib.sha1), not SHA-256.",
    ),
    (
        lambda k: _accept(k + GUID).rstrip("="),
        "keep the '=' padding: the base64 of 20 bytes is 28 characters, the last one '='.",
    ),
    (
        lambda k: _accept(k + GUID).replace("+", "-").replace("/", "_"),
        "use base64.b64encode, not "
        "urlsafe_b64encode: the answer uses the standard alphabet, with + and /, not - and _.",
    ),
]


def check_06_accept_key(accept: Callable[[str], Any]) -> None:
    """Exercise 06.1: ``accept_key(key)`` returns the ``Sec-WebSocket-Accept`` value."""
    keys = [RFC_KEY] + [_b64(os.urandom(16)) for _ in range(5)]
    for key in keys:
        got, want = call("06.1", accept, key), accept_key(key)
        if got != want:
            example = "RFC 6455's example key" if key == RFC_KEY else "the key"
            problem = f"accept_key({key!r}) returned {short(got)}; for {example} it is {want!r}."
            raise fail("06.1", problem, _accept_hint(key, got))
    passed("06.1", f"{len(keys)} keys, RFC 6455's example among them, answered as browsers expect.")


def _accept_hint(key: str, got: Any) -> str:
    if isinstance(got, bytes):
        return 'return a str: base64.b64encode(...) gives bytes, so add .decode("ascii").'
    if not isinstance(got, str):
        return "return the base64 text, a str of 28 characters ending in '='."
    for mistake, hint in ACCEPT_MISTAKES:
        if got == mistake(key):
            return hint
    if key != RFC_KEY and got == RFC_ACCEPT:
        return (
            "that is the answer for RFC 6455's example key, not this one: concatenate the "
            "key's text and the GUID, SHA-1 the result, then base64-encode the digest."
        )
    for typo in _guid_typos():
        if got == _accept(key + typo):
            return f"your GUID is {typo!r}; RFC 6455's is {GUID!r}: copy it exactly."
    if re.fullmatch(r"[A-Za-z0-9+/]{27}=", got):  # the shape of base64 for 20 bytes
        return (
            "the answer has the right shape (base64 of 20 bytes), so the hashing is probably "
            "right but its input is not: hash exactly key + GUID, nothing between them, and "
            f"check the GUID character by character: {GUID}."
        )
    return (
        "concatenate the key's text and the GUID, SHA-1 the result (.digest(), 20 bytes), "
        "then base64-encode those bytes."
    )


def _guid_typos() -> list[str]:
    """The GUID with one character changed, dropped or swapped with the next, and other slips."""
    typos = {GUID.replace("-", ""), "{" + GUID + "}", " " + GUID, GUID + "\n", GUID + " "}
    for i in range(len(GUID)):
        typos.add(GUID[:i] + GUID[i + 1 :])
        typos.update(GUID[:i] + c + GUID[i + 1 :] for c in "0123456789ABCDEFOIl-")
        typos.add(GUID[:i] + GUID[i + 1 : i + 2] + GUID[i] + GUID[i + 2 :])
    return sorted(typos - {GUID})


MASK = bytes.fromhex("37fa213d")  # the RFC's examples' key
BIG = bytes(range(256)) * 256  # 64 KiB
LENGTH_16 = "length 126 means the next 2 bytes are the length (big-endian, struct '!H')."
LENGTH_64 = "length 127 means the next 8 bytes are the length (big-endian, struct '!Q')."
UNMASK = "XOR payload byte i with mask[i % 4]; the 4-byte key comes just before the payload."
RSV_HINT = (
    "the opcode is the low 4 bits of byte 0 only: first & 0x0F. The three RSV bits "
    "(0x70) sit between FIN and the opcode; ignore them."
)
CASES = [  # what the frame is, its bytes, the hint if decoded wrong (the reference decodes it)
    (
        'RFC 6455 5.7: an unmasked text frame, "Hello"',
        bytes.fromhex("810548656c6c6f"),
        "byte 0: FIN = first & 0x80, opcode = first & 0x0F; byte 1: MASK = second & 0x80, "
        "length = second & 0x7F; then the payload.",
    ),
    ('RFC 6455 5.7: a masked text frame, "Hello"', bytes.fromhex("818537fa213d7f9f4d5158"), UNMASK),
    (
        'RFC 6455 5.7: the first fragment of "Hel"+"lo"',
        bytes.fromhex("010348656c"),
        "FIN is the top bit of byte 0 (0x80): 0 here, more fragments follow.",
    ),
    (
        "RFC 6455 5.7: the last fragment, a continuation frame",
        bytes.fromhex("80026c6f"),
        "opcode 0 is a continuation: keep it as 0.",
    ),
    (
        "RFC 6455 5.7: an unmasked ping",
        bytes.fromhex("890548656c6c6f"),
        "the opcode is the low 4 bits of byte 0: first & 0x0F (0x9 is a ping).",
    ),
    ("RFC 6455 5.7: a masked pong", bytes.fromhex("8a8537fa213d7f9f4d5158"), UNMASK),
    (
        "RFC 6455 5.7: 256 bytes of binary, unmasked (16-bit length)",
        bytes.fromhex("827e0100") + BIG[:256],
        LENGTH_16,
    ),
    (
        "RFC 6455 5.7: 64 KiB of binary, unmasked (64-bit length)",
        bytes.fromhex("827f0000000000010000") + BIG,
        LENGTH_64,
    ),
    (
        "a masked text frame of 300 bytes (16-bit length, then the key)",
        encode_frame(TEXT, b"abc" * 100, mask=MASK),
        "with a 16-bit length the masking key sits at bytes 4-7 and the payload starts at 8.",
    ),
    (
        "a masked binary frame of 70000 bytes (64-bit length, then the key)",
        encode_frame(BINARY, BIG[: 70000 - 65536] + BIG, mask=b"\x01\x02\x03\x04"),
        "with a 64-bit length the masking key sits at bytes 10-13 and the payload starts at 14.",
    ),
    (
        "an empty masked text frame",
        encode_frame(TEXT, b"", mask=MASK),
        "a masked frame carries its 4-byte key even when the payload is empty: consumed is 6.",
    ),
    (
        "a masked close frame, code 1000",
        encode_frame(CLOSE, struct.pack("!H", 1000) + b"bye", mask=MASK),
        UNMASK,
    ),
]
RSV_FRAME = bytes([0xC1, 0x05]) + b"Hello"  # FIN and RSV1 set, opcode 1: RSV1 is compression's
RSV_WHAT = "a text frame with RSV1 set (byte 0 is 0xC1: FIN, RSV1, opcode 1)"
REFUSALS = (ValueError, AssertionError)  # a strict decoder's refusal of RSV bits, on purpose
REFUSED = object()


def check_06_decode_frame(decode: Callable[[bytes], Any]) -> None:
    """Exercise 06.2: ``decode_frame(buffer)`` returns ``(Frame, consumed)`` or ``None``."""
    for what, data, hint in CASES:
        _expect_frame(decode, what, data, len(data), hint)
    two = CASES[1][1] + CASES[6][1]
    _expect_frame(
        decode,
        'two frames back to back (a masked "Hello", then 256 bytes): only the first is decoded',
        two,
        len(CASES[1][1]),
        "consumed is the size of the first "
        "frame alone, so the caller can cut it off and decode the rest next.",
    )
    if (got := _run(decode, RSV_FRAME, f"given {RSV_WHAT}")) is not REFUSED:
        _expect_frame(decode, RSV_WHAT, RSV_FRAME, len(RSV_FRAME), RSV_HINT, got=got)
    for what, data, _ in CASES:
        for size in range(len(data)) if len(data) <= 400 else [*range(16), len(data) // 2, -5, -1]:
            prefix = data[:size]
            got = _run(
                decode,
                prefix,
                f"{what}: given only the first {len(prefix)} of its {len(data)} bytes",
            )
            expect(
                got is None,
                "06.2",
                f"{what}: returned a frame for an incomplete buffer (the "
                f"first {len(prefix)} of {len(data)} bytes): {short(got)}",
                "return None until "
                "the whole frame is there: the buffer needs the header, the extended length, "
                "the masking key and all `length` payload bytes.",
            )
    passed(
        "06.2",
        f"{len(CASES)} frames decoded (RFC 6455's examples, all three length forms, "
        "masked and not), the first of two, and None for every incomplete buffer.",
    )


def _run(decode, data: bytes, given: str) -> Any:
    """What ``decode(data)`` returns; a crash fails, naming it. For the RSV frame a deliberate
    refusal (``REFUSALS``, a plain ``Exception`` or the learner's own class) gives ``REFUSED``."""
    try:
        return decode(data)
    except NotImplementedError:
        raise not_written("06.2", getattr(decode, "__name__", "decode_frame")) from None
    except CheckFailed:
        raise
    except Exception as error:
        kind, name = type(error), type(error).__name__
        own = kind is Exception or kind.__module__ not in ("builtins", "struct")
        if data is RSV_FRAME and (isinstance(error, REFUSALS) or own):
            return REFUSED  # a strict decoder refusing RSV bits is right too
        where = core.learner_line(error, getattr(decode, "__name__", "decode_frame"))
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{name}"
        hint = (
            "check that the buffer is long enough before reading each part (header, "
            "extended length, masking key, payload), and return None when it is not."
        )
        if data is RSV_FRAME:
            hint = (
                "the opcode is first & 0x0F; the RSV bits (0x70) are to be ignored, not used. "
                "Or refuse the frame on purpose, with raise ValueError(...): a "
                f"{kind.__name__} is a crash, not a refusal."
            )
        raise fail(
            "06.2",
            f"{given}, decode_frame raised {name}: {error}" + (f"\n{where}" if where else ""),
            hint,
        ) from None


def _expect_frame(decode, what: str, data: bytes, used: int, hint: str, got: Any = None) -> None:
    want = decode_frame(bytes([data[0] & 0x8F]) + data[1:])[0]  # the reference, ignoring RSV
    got = call("06.2", decode, data) if got is None else got
    shown = f"\nBytes: {short(data, 80)}"
    expect(
        got is not None,
        "06.2",
        f"{what}: decode_frame returned None, but the buffer holds "
        f"the whole frame ({len(data)} bytes).{shown}",
        hint,
    )
    expect(
        isinstance(got, tuple | list) and len(got) == 2,
        "06.2",
        f"{what}: decode_frame "
        f"returned {short(got)}; expected a pair (frame, consumed), a tuple of two items.",
        "return a tuple: (Frame(fin, opcode, payload, masked), number of bytes the frame took).",
    )
    frame, consumed = got
    fields = {name: getattr(frame, name, "(missing)") for name in Frame.__dataclass_fields__}
    wrong = [name for name in fields if fields[name] != getattr(want, name)]
    if wrong:
        problem = "; ".join(
            f"{name} is {_shown(fields[name])}, expected {_shown(getattr(want, name))}"
            for name in wrong
        )
        raise fail(
            "06.2", f"{what}: {problem}{shown}", _frame_hint(data, want, fields, wrong) or hint
        )
    after = (
        f"the buffer holds {_a(used)} {used}-byte frame followed by {len(data) - used} more "
        "bytes, so consumed should be "
        if len(data) > used
        else "the frame takes "
    )
    expect(
        consumed == used,
        "06.2",
        f"{what}: the frame is right but consumed is "
        f"{short(consumed)}; {after}{used} bytes (header, "
        f"{'masking key, ' if want.masked else ''}payload).{shown}",
        "consumed = header bytes (2, 4 or 10) + 4 if masked + payload length; bytes after the "
        "frame belong to the next one.",
    )


def _frame_hint(data: bytes, want: Frame, got: dict, wrong: list[str]) -> str | None:
    """The known mistakes a wrong frame shows: (its symptom, the hint that names it)."""
    payload = got["payload"]
    blob = bytes(payload) if isinstance(payload, bytes | bytearray) else None
    bad_payload = "payload" in wrong and blob is not None
    start, size = len(data) - len(want.payload), len(want.payload)
    from_key = data[start - 4 : start - 4 + size]
    length7 = data[1] & 0x7F
    symptoms = [
        (bad_payload and want.masked and blob == data[start:], "you forgot to unmask: " + UNMASK),
        (
            bad_payload and want.masked and blob == from_key,
            "the payload starts after the 4-byte masking key, not at it.",
        ),
        (
            bad_payload and want.masked and blob == apply_mask(from_key, data[start - 4 : start]),
            "you unmasked from the masking key's offset: the XOR is right, but the payload starts "
            "4 bytes later, after the key (buffer[offset + 4:]).",
        ),
        (bad_payload and size > 0 and length7 == 126 and len(blob) != size, LENGTH_16),
        (bad_payload and size > 0 and length7 == 127 and len(blob) != size, LENGTH_64),
        (
            "fin" in wrong and got["fin"] == 0x80,
            "fin must be a bool: first & 0x80 is 128, not True; use bool(buffer[0] & 0x80).",
        ),
        (
            "masked" in wrong and got["masked"] == 0x80,
            "masked must be a bool: second & 0x80 is 128, not True; use bool(buffer[1] & 0x80).",
        ),
        (
            wrong == ["masked"] and got["masked"] is False and want.masked,
            "the payload is unmasked correctly, yet masked is False: pass masked as Frame's 4th "
            "argument; it defaults to False.",
        ),
        ("opcode" in wrong and got["opcode"] == data[0] & 0x7F, RSV_HINT),
        ("fin" in wrong, "FIN is the top bit of byte 0: bool(first & 0x80)."),
        ("opcode" in wrong, "the opcode is the low 4 bits of byte 0: first & 0x0F."),
        ("masked" in wrong, "MASK is the top bit of byte 1: bool(second & 0x80)."),
        ("payload" in wrong and not isinstance(payload, bytes), "return the payload as bytes."),
    ]
    return next((hint for symptom, hint in symptoms if symptom), None)


def _a(number: int) -> str:
    """The article before a number said aloud: "an 8-byte", "an 11-byte", "a 16-byte"."""
    return "an" if re.match(r"8|1[18](\d{3})*$", str(number)) else "a"


def _shown(value: Any) -> str:
    if isinstance(value, bytes | bytearray) and len(value) > 16:
        return f"{len(value)} bytes starting {short(bytes(value[:8]))}"
    return short(value, 60)


CHUNK_SIZES = [1, 2, 3, 5, 7, 11, 100, 1000, 30000]  # cuts inside headers, keys and payloads


def check_06_live(split: Callable[[bytes], Any]) -> None:
    """Exercise 06.3: ``split_frames(buffer)`` returns ``(frames, rest)``, fed live bytes."""
    data = echo_session(LIVE_MESSAGES)
    ends = takewhile(lambda end: end < len(data), accumulate(cycle(CHUNK_SIZES)))
    chunks = [data[start:end] for start, end in pairwise([0, *ends, len(data)])]
    found, buffer = [], b""
    for number, chunk in enumerate(chunks, 1):
        want_frames, want_rest = split_frames(buffer + chunk)
        result = call("06.3", split, buffer + chunk)
        expect(
            isinstance(result, tuple | list) and len(result) == 2,
            "06.3",
            f"split_frames returned {short(result)}; expected a pair (frames, rest).",
            "return (list of the whole frames, the bytes left after them).",
        )
        frames, rest = list(result[0]), result[1]
        expect(
            isinstance(rest, bytes | bytearray),
            "06.3",
            f"split_frames returned {short(rest)} as the rest; expected bytes.",
            'the rest is the bytes of the frame not complete yet (b"" if none).',
        )
        where = (
            f"chunk {number} of {len(chunks)}: given {_count(len(buffer + chunk), 'byte')} "
            f"that hold {_count(len(want_frames), 'whole frame')} and "
            f"{_count(len(want_rest), 'byte')} of the next"
        )
        expect(
            len(frames) == len(want_frames),
            "06.3",
            f"{where}, split_frames returned {_count(len(frames), 'frame')}.",
            "loop: call decode_frame on what is left, cut "
            "off `consumed` bytes, and stop only when it returns None.",
        )
        expect(
            frames == want_frames,
            "06.3",
            f"{where}, the frames differ: {short(frames, 160)}; "
            f"expected {short(want_frames, 160)}.",
            "after each frame, continue from buffer[consumed:], not from the start.",
        )
        expect(
            bytes(rest) == want_rest,
            "06.3",
            f"{where}, the rest returned is {len(rest)} bytes, {short(bytes(rest), 60)}.",
            "return the bytes after the last whole frame: "
            "the start of a frame still arriving, which the next chunk completes. Dropping "
            "them loses the frame.",
        )
        found, buffer = found + frames, bytes(rest)
    passed(
        "06.3",
        f"the live echo server's {len(data)} bytes, in {len(chunks)} chunks, split into "
        f"its {len(found)} frames: three echoes, a pong and the close.",
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
