"""servers.rfc6455 codec: RFC 6455's own examples (sections 1.3 and 5.7) and its framing rules."""

from __future__ import annotations

import pytest

from servers.rfc6455 import Frame, ProtocolError, accept_key, decode_frame, encode_frame
from servers.rfc6455.codec import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def test_the_accept_key_of_the_rfcs_example_handshake():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# RFC 6455 section 5.7, "Examples"
RFC_EXAMPLES = [
    (
        "unmasked text 'Hello'",
        TEXT,
        b"Hello",
        True,
        None,
        bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]),
    ),
    (
        "masked text 'Hello'",
        TEXT,
        b"Hello",
        True,
        MASK,
        bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
    ),
    ("first fragment 'Hel'", TEXT, b"Hel", False, None, bytes([0x01, 0x03, 0x48, 0x65, 0x6C])),
    ("last fragment 'lo'", CONTINUATION, b"lo", True, None, bytes([0x80, 0x02, 0x6C, 0x6F])),
    (
        "unmasked ping 'Hello'",
        PING,
        b"Hello",
        True,
        None,
        bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]),
    ),
    (
        "masked pong 'Hello'",
        PONG,
        b"Hello",
        True,
        MASK,
        bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]),
    ),
    (
        "256 bytes binary, 16-bit length",
        BINARY,
        bytes(256),
        True,
        None,
        bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(256),
    ),
    (
        "64 KiB binary, 64-bit length",
        BINARY,
        bytes(65536),
        True,
        None,
        bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + bytes(65536),
    ),
]


@pytest.mark.parametrize(
    ("what", "opcode", "payload", "fin", "mask", "wire"),
    RFC_EXAMPLES,
    ids=[example[0] for example in RFC_EXAMPLES],
)
def test_the_rfcs_examples_encode_and_decode_byte_for_byte(what, opcode, payload, fin, mask, wire):
    assert encode_frame(opcode, payload, fin=fin, mask=mask) == wire
    assert decode_frame(wire) == (Frame(fin, opcode, payload, mask is not None), len(wire))


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
def test_each_length_form_round_trips_masked_and_unmasked(length):
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    for mask in (None, b"\x01\x02\x03\x04"):
        wire = encode_frame(BINARY, payload, mask=mask)
        assert decode_frame(wire + b"next frame") == (
            Frame(True, BINARY, payload, mask is not None),
            len(wire),
        )


def test_an_incomplete_frame_decodes_to_none_at_every_cut():
    wire = encode_frame(TEXT, b"x" * 300, mask=MASK)
    assert all(decode_frame(wire[:cut]) is None for cut in range(len(wire)))


@pytest.mark.parametrize(
    ("wire", "says"),
    [
        (bytes([0x83, 0x00]), "reserved opcode"),
        (bytes([0xC1, 0x00]), "reserved bits"),
        (bytes([0x09, 0x00]), "control frames"),
        (bytes([0x89, 0x7E, 0x00, 0x80]), "control frames"),
        (bytes([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]), "most significant bit"),
    ],
)
def test_frames_that_break_the_rules_raise_a_protocol_error_that_says_which(wire, says):
    with pytest.raises(ProtocolError, match=says):
        decode_frame(wire)


@pytest.mark.parametrize(
    ("args", "kwargs", "says"),
    [
        ((0x3, b""), {}, "reserved"),
        ((PING, b"x" * 126), {}, "at most 125"),
        ((CLOSE, b""), {"fin": False}, "cannot be fragmented"),
        ((TEXT, b"x"), {"mask": b"abc"}, "exactly 4 bytes"),
    ],
)
def test_frames_that_cannot_be_sent_are_refused(args, kwargs, says):
    with pytest.raises(ValueError, match=says):
        encode_frame(*args, **kwargs)
