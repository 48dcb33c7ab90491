"""Exercise 06's checks: the reference codec passes; each typical mistake is named."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from checks_support import assert_named, failure_of

from lab import checks
from lab.frames import frames_in
from servers.rfc6455 import Frame, accept_key, decode_frame, split_frames
from servers.rfc6455.codec import GUID, apply_mask, header_size


def test_the_reference_functions_pass_every_check(capsys):
    checks.check_06_accept_key(accept_key)
    checks.check_06_decode_frame(decode_frame)
    checks.check_06_live(split_frames)
    assert capsys.readouterr().out.count("✔") == 3


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("accept", "says"),
    [
        (lambda key: hashlib.sha1((key + GUID).encode()).hexdigest(), "hex digest"),
        (lambda key: b64(hashlib.sha1(key.encode()).digest()), "forgot to append the GUID"),
        (lambda key: accept_key(key).encode(), "return a str"),
        (lambda key: base64.encodebytes(hashlib.sha1((key + GUID).encode()).digest()).decode(),
         "adds a newline"),
        (lambda key: b64(hashlib.sha1(base64.b64decode(key) + GUID.encode()).digest()),
         "do not base64-decode it"),
        (lambda key: b64(hashlib.sha256((key + GUID).encode()).digest()), "not SHA-256"),
        (lambda key: b64(hashlib.sha1((GUID + key).encode()).digest()), "after the key"),
        (lambda key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "concatenate the key"),  # hard-coded
        (lambda key: accept_key(key).rstrip("="), "keep the '=' padding"),
        (lambda key: base64.urlsafe_b64encode(hashlib.sha1((key + GUID).encode()).digest())
         .decode(), "not urlsafe_b64encode"),
        (lambda key: b64(hashlib.sha1((key + GUID.replace("5C", "C5")).encode()).digest()),
         "your GUID is '258EAFA5-E914-47DA-9C5A-C5AB0DC85B11'"),
        (lambda key: b64(hashlib.sha1((key.rstrip("=") + GUID).encode()).digest()),
         "the right shape"),
        (lambda key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "the answer for RFC 6455's example key"),
    ],
    ids=["hexdigest", "no GUID", "bytes", "encodebytes", "decoded key", "sha256", "GUID first",
         "hard-coded answer", "padding stripped", "urlsafe", "GUID mistyped",
         "key without its padding", "hard-coded"],
)
def test_a_wrong_accept_key_gets_a_message_naming_the_mistake(accept, says):
    assert_named(checks.check_06_accept_key, accept, exercise="06.1", says=says)


def no_unmasking(buffer):
    decoded = decode_frame(buffer)
    if decoded is None:
        return None
    frame, used = decoded
    start = header_size(buffer[1])
    return Frame(frame.fin, frame.opcode, buffer[start:used], frame.masked), used


def seven_bit_length_only(buffer):
    if len(buffer) < 2:
        return None
    length, masked = buffer[1] & 0x7F, bool(buffer[1] & 0x80)
    start = 2 + (4 if masked else 0)
    if len(buffer) < start + length:
        return None
    payload = bytes(buffer[start : start + length])
    if masked:
        payload = apply_mask(payload, buffer[2:6])
    return Frame(bool(buffer[0] & 0x80), buffer[0] & 0x0F, payload, masked), start + length


def ignoring_fin(buffer):
    decoded = decode_frame(buffer)
    return decoded and (Frame(True, decoded[0].opcode, decoded[0].payload, decoded[0].masked),
                        decoded[1])


def consuming_everything(buffer):
    decoded = decode_frame(buffer)
    return decoded and (decoded[0], len(buffer))


def a_frame_for_any_header(buffer):
    if len(buffer) >= 2 and decode_frame(buffer) is None:
        return Frame(True, buffer[0] & 0x0F, bytes(buffer[2:]), False), len(buffer)
    return decode_frame(buffer)


def crashing_when_short(buffer):
    struct.unpack("!BB", buffer[:2])
    return decode_frame(buffer)


def from_the_key_offset(*, unmask: bool):
    """A decoder that reads a masked payload from where the masking key starts, so the key's
    4 bytes are taken for payload; ``unmask``: XORs that with the key, else leaves it masked."""

    def decode(buffer):
        decoded = decode_frame(buffer)
        if decoded is None or not decoded[0].masked:
            return decoded
        frame, used = decoded
        start = header_size(buffer[1]) - 4
        payload = buffer[start : start + len(frame.payload)]
        if unmask:
            payload = apply_mask(payload, buffer[start : start + 4])
        return Frame(frame.fin, frame.opcode, payload, True), used

    return decode


def without_masked_argument(buffer):
    decoded = decode_frame(buffer)
    return decoded and (Frame(decoded[0].fin, decoded[0].opcode, decoded[0].payload), decoded[1])


def fin_as_128(buffer):
    decoded = decode_frame(buffer)
    if decoded is None:
        return None
    frame, used = decoded
    return Frame(buffer[0] & 0x80, frame.opcode, frame.payload, frame.masked), used


def rsv_in_the_opcode(buffer):
    decoded = lenient(buffer)
    return decoded and (Frame(decoded[0].fin, buffer[0] & 0x7F, decoded[0].payload,
                              decoded[0].masked), decoded[1])


def lenient(buffer):
    """The reference decoder, but ignoring RSV bits as the exercise asks."""
    return decode_frame(bytes([buffer[0] & 0x8F]) + buffer[1:]) if buffer else None

@pytest.mark.parametrize(
    ("decode", "says"),
    [
        (no_unmasking, "you forgot to unmask"),
        (seven_bit_length_only, "length 126 means the next 2 bytes are the length"),
        (ignoring_fin, "FIN is the top bit of byte 0"),
        (consuming_everything, "only the first is decoded"),
        (a_frame_for_any_header, "returned a frame for an incomplete buffer"),
        (crashing_when_short, "raised struct.error"),
        (from_the_key_offset(unmask=False), "after the 4-byte masking key"),
        (lambda buffer: decode_frame(buffer) and decode_frame(buffer)[0], "expected a pair"),
        (without_masked_argument, "pass masked as Frame's 4th argument; it defaults to False"),
        (fin_as_128, "fin must be a bool"),
        (from_the_key_offset(unmask=True), "you unmasked from the masking key's offset"),
        (consuming_everything, "an 11-byte frame followed by 260 more bytes"),
        (rsv_in_the_opcode, "ignore them"),
        (lambda buffer: decode_frame(buffer) and decode_frame(buffer)[0], "a tuple"),
    ],
    ids=["no unmasking", "7-bit length only", "FIN ignored", "consumes everything",
         "frame for a prefix", "crash on a short buffer", "mask key in the payload",
         "frame without consumed", "masked left out", "fin 128", "XOR from the key",
         "consumed everything", "RSV in opcode", "no pair"],
)
def test_a_wrong_decoder_gets_a_message_naming_the_mistake(decode, says):
    assert_named(checks.check_06_decode_frame, decode, exercise="06.2", says=says, hint=True)


def test_a_64_bit_length_read_as_16_bits_is_named():
    def sixteen_bit_only(buffer):
        if len(buffer) >= 2 and buffer[1] & 0x7F == 127:
            length = int.from_bytes(buffer[2:4], "big")
            return Frame(True, buffer[0] & 0x0F, bytes(buffer[4 : 4 + length]), False), 4 + length
        return decode_frame(buffer)

    eight = "length 127 means the next 8 bytes"
    failure_of(checks.check_06_decode_frame, sixteen_bit_only, match=eight)


def test_an_untouched_decoder_is_not_written_yet():
    def decode(buffer):
        raise NotImplementedError()

    failure_of(checks.check_06_decode_frame, decode, match="not written yet")


def first_frame_repeated(buffer):
    frames, rest = split_frames(buffer)
    return frames[:1] * len(frames), rest


@pytest.mark.parametrize(
    ("split", "says"),
    [
        (lambda buffer: (frames_in(buffer)[:1], split_frames(buffer)[1]), "loop: call decode"),
        (lambda buffer: (frames_in(buffer), b""), "Dropping them loses the frame"),
        (first_frame_repeated, "continue from buffer[consumed:]"),
        (lambda buffer: frames_in(buffer), "expected a pair"),
        (lambda buffer: (frames_in(buffer), None), "as the rest; expected bytes"),
    ],
    ids=["first frame only", "rest dropped", "first frame repeated", "no rest", "rest None"],
)
def test_a_wrong_splitter_gets_a_message_naming_the_mistake(split, says):
    assert_named(checks.check_06_live, split, exercise="06.3", says=says)



def test_a_list_pair_and_a_decoder_that_ignores_rsv_both_pass(capsys):
    checks.check_06_decode_frame(lambda buffer: lenient(buffer) and list(lenient(buffer)))
    checks.check_06_decode_frame(lenient)  # the exercise says to ignore RSV bits
    checks.check_06_decode_frame(decode_frame)  # refusing them, as the strict codec does, is fine
    assert capsys.readouterr().out.count("✔") == 3


NAMES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


def crashing_on_rsv(buffer):
    """Looks the opcode up with the RSV bits still in it: KeyError on byte 0 = 0xC1."""
    decoded = lenient(buffer)
    if decoded is not None:
        NAMES[buffer[0] & 0x7F]
    return decoded


def test_a_decoder_that_crashes_on_the_rsv_frame_fails_naming_the_crash():
    said = failure_of(checks.check_06_decode_frame, crashing_on_rsv, match=r"exercise 06\.2")
    assert "RSV1 set" in said and "raised KeyError: 65" in said
    assert "NAMES[buffer[0] & 0x7F]" in said  # the learner's line
    assert "a KeyError is a crash, not a refusal" in said


class RSVRefused(Exception):
    """A learner's own exception class, raised on purpose."""


def refusing_rsv_with(error):
    def decode(buffer):
        if buffer and buffer[0] & 0x70:
            raise error
        return decode_frame(buffer)

    return decode


@pytest.mark.parametrize(
    "error", [ValueError("RSV bits set"), RSVRefused("no extension"), Exception("RSV")],
    ids=["ValueError", "own exception class", "Exception"],
)
def test_a_decoder_that_refuses_the_rsv_frame_on_purpose_passes(error, capsys):
    checks.check_06_decode_frame(refusing_rsv_with(error))
    assert capsys.readouterr().out.count("✔") == 1


@pytest.mark.parametrize("error", [IndexError("index out of range"), TypeError("bad operand")])
def test_a_builtin_crash_on_the_rsv_frame_is_not_taken_for_a_refusal(error):
    crash = f"raised {type(error).__name__}"
    failure_of(checks.check_06_decode_frame, refusing_rsv_with(error), match=crash)
