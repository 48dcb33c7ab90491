"""Checks for exercise 13 (lesson 13): HTTP/2 header bytes counted from the frames a server
sent, and HPACK header blocks decoded in the order a connection sent them.

13.1 runs the learner's ``header_bytes(received)`` on frames built to catch each likely
mistake (a mistake is recognised by the answer it gives: the answer of a reference with that
mistake), then on what a live hypercorn server sent. 13.2 runs ``decode_blocks(blocks)`` on the
request header blocks of five polls on one live connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hpack

from lab.checks.core import call, expect, fail, passed, short
from lab.header_bytes import http2_polls
from servers import runtime

DATA, HEADERS, SETTINGS, CONTINUATION = 0x0, 0x1, 0x4, 0x9


def frame(
    kind: int, stream: int, payload: bytes, *, flags: int = 0, reserved: bool = False
) -> bytes:
    """One HTTP/2 frame (RFC 9113 section 4.1): 24-bit length, type, flags, R bit + 31-bit id."""
    head = len(payload).to_bytes(3, "big") + bytes([kind, flags])
    return head + ((1 << 31 if reserved else 0) | stream).to_bytes(4, "big") + payload


def reference(received: bytes, *, mistake: str | None = None) -> dict[int, int]:
    """Header bytes per stream; with ``mistake``, the answer a solution with it gives."""
    counts: dict[int, int] = {}
    at = 0
    while len(received) - at >= 9:
        length = int.from_bytes(
            received[at + (mistake == "two-byte length") : at + 3],
            "little" if mistake == "little-endian length" else "big",
        )
        kind, flags = received[at + 3 + (mistake == "type from the flags byte")], received[at + 4]
        stream = int.from_bytes(received[at + 5 : at + 9], "big")
        if mistake == "stream id from the last byte":
            stream = received[at + 8]
        elif mistake != "reserved bit":
            stream &= 0x7FFFFFFF
        if len(received) - at < 9 + length and mistake != "counts a partial frame":
            break
        kinds = {
            "counts DATA": (HEADERS, CONTINUATION, DATA),
            "no CONTINUATION": (HEADERS,),
        }.get(mistake, (HEADERS, CONTINUATION))
        if kind in kinds and (mistake != "END_HEADERS only" or flags & 0x4):
            size = length if mistake == "payload only" else 9 + length
            counts[stream] = counts.get(stream, 0) + size
        elif mistake == "lists every stream":
            counts.setdefault(stream, 0)
        at += 9 + length
    return counts


HINTS = {
    "payload only": "each frame's 9-byte frame header (length, type, flags, stream id) is on the "
    "wire too: count 9 + length per frame.",
    "counts DATA": "only HEADERS (type 0x1) and CONTINUATION (type 0x9) frames carry header "
    "blocks; DATA (type 0x0) carries the body.",
    "no CONTINUATION": "a header block too big for one frame goes on in CONTINUATION frames "
    "(type 0x9, RFC 9113 section 6.10): count them for their stream too.",
    "reserved bit": "the stream identifier is the last 31 bits of the frame header: clear the "
    "reserved top bit with & 0x7FFFFFFF (RFC 9113 section 4.1 says to ignore it).",
    "two-byte length": "the length is the first 3 bytes of the frame header (24 bits, "
    "int.from_bytes(buffer[at:at + 3], 'big')), not 2.",
    "counts a partial frame": "the bytes may stop inside a frame: stop when fewer than 9 + "
    "length bytes are left, and count only whole frames.",
    "little-endian length": "the 24-bit length is big-endian, most significant byte first "
    "(int.from_bytes(..., 'big')), as every integer in an HTTP/2 frame header is.",
    "type from the flags byte": "the type is byte 3, right after the 3 length bytes (0, 1, 2); "
    "byte 4 holds the flags.",
    "stream id from the last byte": "the stream identifier is all of bytes 5 to 8 (31 bits, "
    "big-endian, with the top bit cleared), not only byte 8: stream ids go past 255.",
    "END_HEADERS only": "count every HEADERS and CONTINUATION frame, whatever its flags: "
    "END_HEADERS (0x4) only marks the last frame of a header block.",
    "lists every stream": "a stream appears only when it had header frames: SETTINGS on stream "
    "0, or a stream with only DATA, is left out of the dict.",
}

BLOCK = bytes(range(40))
CASES = [  # what the buffer is, the buffer
    ("one HEADERS frame on stream 1", frame(HEADERS, 1, BLOCK[:20], flags=0x4)),
    (
        "SETTINGS on stream 0, then HEADERS and DATA on stream 1",
        frame(SETTINGS, 0, bytes(12)) + frame(HEADERS, 1, BLOCK[:10], flags=0x4)
        + frame(DATA, 1, b"pong", flags=0x1),
    ),
    (
        "a HEADERS frame continued in a CONTINUATION frame on stream 3",
        frame(HEADERS, 3, BLOCK[:30]) + frame(CONTINUATION, 3, BLOCK[:7], flags=0x4),
    ),
    (
        "a HEADERS frame whose stream id has the reserved bit set",
        frame(HEADERS, 5, BLOCK[:12], flags=0x4, reserved=True),
    ),
    (
        "a 70,000-byte HEADERS frame (a length above 65,535) on stream 7",
        frame(HEADERS, 7, bytes(70000), flags=0x4),
    ),
    (
        "two whole frames, then the first 20 bytes of a third",
        frame(HEADERS, 1, BLOCK[:10], flags=0x4) + frame(HEADERS, 3, BLOCK[:11], flags=0x4)
        + frame(HEADERS, 5, BLOCK)[:20],
    ),
    (
        "a HEADERS frame on stream 65,537 (a stream id above 255)",
        frame(HEADERS, 65537, BLOCK[:9], flags=0x4),
    ),
    (
        "a whole frame, then 5 bytes of the next frame header",
        frame(HEADERS, 1, BLOCK[:10], flags=0x4) + frame(HEADERS, 3, BLOCK)[:5],
    ),
]


def _answers(header_bytes: Callable[[bytes], Any]) -> list[tuple[Any, bytes]]:
    """The learner's answer for every built case (None where it raised), for a diagnosis."""
    answers = []
    for _, received in CASES:
        try:
            answers.append((header_bytes(received), received))
        except Exception:
            answers.append((None, received))
    return answers


def _diagnose(answers: list[tuple[Any, bytes]]) -> str | None:
    """The hint of the mistake whose answers are all of ``answers`` (``(got, received)``)."""
    for mistake, hint in HINTS.items():
        if all(got == reference(received, mistake=mistake) for got, received in answers):
            return hint
    return None


def check_13_header_bytes(header_bytes: Callable[[bytes], Any], origin: str) -> None:
    """Exercise 13.1: ``header_bytes(received)`` sums each stream's HEADERS and CONTINUATION
    frame bytes; ``origin`` is an HTTP/2 server (``servers.multiplex``) for the live part."""
    for what, received in CASES:
        got, want = call("13.1", header_bytes, received), reference(received)
        if got != want:
            raise fail(
                "13.1",
                f"for {what}, header_bytes returned {short(got)}; the header bytes per stream "
                f"are {want}.",
                _diagnose(_answers(header_bytes))
                or "walk the frames: read 9 bytes of frame header, then skip `length` bytes.",
            )
    received = bytearray()
    paths = [f"/ping?since={k}" for k in range(1, 6)]
    polls = runtime.run(http2_polls(origin, paths, received=received), timeout=30)
    got, want = call("13.1", header_bytes, bytes(received)), reference(bytes(received))
    expect(
        got == want,
        "13.1",
        f"on the {len(received)} bytes the server sent for five polls, header_bytes returned "
        f"{short(got)}; per stream they are {want}.",
        _diagnose([(got, bytes(received))]),
    )
    first, *later = [want[stream] for stream in sorted(want)]
    passed(
        "13.1",
        f"{len(CASES)} built cases and a live connection; the server's header bytes per poll: "
        f"{first} for the first, {max(later)} at most after it ({sum(p.up for p in polls)} "
        "bytes of requests went the other way).",
    )


def _decode_all(blocks: list[bytes]) -> list[list[tuple[str, str]]]:
    decoder = hpack.Decoder()
    return [[(name, value) for name, value in decoder.decode(block)] for block in blocks]


def check_13_decode_blocks(decode_blocks: Callable[[list[bytes]], Any], origin: str) -> None:
    """Exercise 13.2: ``decode_blocks(blocks)`` decodes one connection's header blocks, in
    order, into ``[[(name, value), ...], ...]``."""
    polls = runtime.run(http2_polls(origin, [f"/ping?since={k}" for k in range(1, 6)]), timeout=30)
    blocks = [p.block for p in polls]
    want = _decode_all(blocks)
    try:
        got = decode_blocks(list(blocks))
    except hpack.HPACKDecodingError as error:
        raise fail(
            "13.2",
            f"decode_blocks raised {type(error).__name__}: {error}.",
            "the blocks after the first point into the dynamic table the ones before them "
            "filled: decode them all, in the order sent, with one hpack.Decoder.",
        ) from None
    except Exception:
        got = call("13.2", decode_blocks, list(blocks))  # says what went wrong, or not written
    expect(
        isinstance(got, list) and len(got) == len(blocks)
        and all(isinstance(fields, list) for fields in got),
        "13.2",
        f"decode_blocks returned {short(got)}: expected a list with one list of fields per "
        f"block, {len(blocks)} in all.",
        "return [decoder.decode(block) for block in blocks], one decoder for them all.",
    )
    expect(
        not any(isinstance(part, bytes) for fields in got for field in fields for part in field),
        "13.2",
        "decode_blocks returned names and values as bytes.",
        "return text: decoder.decode(block) gives str unless you pass raw=True.",
    )
    normalised = [[tuple(field) for field in fields] for fields in got]
    expect(
        normalised == want,
        "13.2",
        f"decode_blocks returned {short(normalised)}; expected {short(want)}.",
        "decode each block once, in the order sent, with one hpack.Decoder kept from one block "
        "to the next.",
    )
    passed(
        "13.2",
        f"{len(blocks)} blocks decoded; the second request named the same {len(want[1])} "
        f"fields as the first in {len(blocks[1])} bytes, where the first took {len(blocks[0])}.",
    )
