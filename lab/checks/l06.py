"""Checks for exercise 06 (lesson 06): the handshake's accept key and a frame decoder, held to
RFC 6455's examples, then run on bytes a live server sent. Each check is a scenario here (the
inputs, and what the reference codec answers); the tables of known mistakes (what a wrong answer
looks like → the hint that names it) are ``lab.checks.l06_mistakes``."""

from __future__ import annotations

import base64
import os
import re
import struct
from collections.abc import Callable
from itertools import accumulate, cycle, pairwise, takewhile
from typing import Any

from lab.checks import core
from lab.checks.core import CheckFailed, call, expect, fail, not_written, passed, short
from lab.checks.l06_mistakes import (
    LENGTH_16,
    LENGTH_64,
    RFC_KEY,
    RSV_HINT,
    UNMASK,
    accept_hint,
    frame_hint,
)
from lab.frames import LIVE_MESSAGES, echo_session
from servers.rfc6455 import CLOSE, accept_key, decode_frame, encode_frame, split_frames
from servers.rfc6455.codec import BINARY, TEXT, Frame


def check_06_accept_key(accept: Callable[[str], Any]) -> None:
    """Exercise 06.1: ``accept_key(key)`` returns the ``Sec-WebSocket-Accept`` value."""
    keys = [RFC_KEY] + [base64.b64encode(os.urandom(16)).decode() for _ in range(5)]
    for key in keys:
        got, want = call("06.1", accept, key), accept_key(key)
        if got != want:
            example = "RFC 6455's example key" if key == RFC_KEY else "the key"
            problem = f"accept_key({key!r}) returned {short(got)}; for {example} it is {want!r}."
            raise fail("06.1", problem, accept_hint(key, got))
    passed("06.1", f"{len(keys)} keys, RFC 6455's example among them, answered as browsers expect.")


MASK = bytes.fromhex("37fa213d")  # the RFC's examples' key
BIG = bytes(range(256)) * 256  # 64 KiB
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
            "06.2", f"{what}: {problem}{shown}", frame_hint(data, want, fields, wrong) or hint
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
