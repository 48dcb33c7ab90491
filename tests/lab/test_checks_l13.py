"""Exercise 13's checks: right answers pass, each likely mistake is named."""

from __future__ import annotations

import struct

import hpack
import pytest
from checks_support import assert_named, assert_passes

from lab import checks
from lab.checks.l13 import CASES, HINTS, reference
from servers.multiplex import serve_multiplexed


@pytest.fixture(scope="module")
def origin():
    with serve_multiplexed(http2=True) as server:
        yield server.url


def header_bytes(received: bytes) -> dict[int, int]:
    return reference(received)


def with_mistake(mistake: str):
    return lambda received: reference(received, mistake=mistake)


def test_a_right_header_counter_passes(origin, capsys):
    out = assert_passes(checks.check_13_header_bytes, header_bytes, origin, exercise="13.1",
                        capsys=capsys)
    assert "live connection" in out


@pytest.mark.parametrize("mistake", list(HINTS))
def test_each_header_counting_mistake_is_named(origin, mistake):
    assert_named(checks.check_13_header_bytes, with_mistake(mistake), origin, exercise="13.1",
                 says=HINTS[mistake].split(":")[0], hint=True)


def test_every_mistake_answers_the_built_cases_unlike_the_right_answer_and_each_other():
    answers = {m: [reference(r, mistake=m) for _, r in CASES] for m in [None, *HINTS]}
    assert len({repr(a) for a in answers.values()}) == len(answers)


def walker(stream_of, keep):
    """A frame walker written as a learner might, with its own stream id and frame choice."""
    def header_bytes(received):
        counts, at = {}, 0
        while len(received) - at >= 9:
            length = int.from_bytes(received[at:at + 3], "big")
            if len(received) - at < 9 + length:
                break
            head = received[at:at + 9]
            if keep(head):
                counts[stream_of(head)] = counts.get(stream_of(head), 0) + 9 + length
            at += 9 + length
        return counts

    return header_bytes


def test_a_stream_id_read_from_its_last_byte_is_named(origin):
    # passed every check while all the built cases' stream ids were below 256
    last_byte = walker(lambda head: head[8], lambda head: head[3] in (1, 9))
    assert_named(checks.check_13_header_bytes, last_byte, origin, exercise="13.1",
                 says="stream ids go past 255", hint=True)


def test_a_counter_that_skips_frames_without_end_headers_is_named(origin):
    end_headers_only = walker(lambda head: int.from_bytes(head[5:], "big") & 0x7FFFFFFF,
                              lambda head: head[3] in (1, 9) and head[4] & 0x4)
    assert_named(checks.check_13_header_bytes, end_headers_only, origin, exercise="13.1",
                 says="whatever its flags", hint=True)


def test_a_counter_that_crashes_inside_a_frame_header_is_shown_its_error(origin):
    def crashes(received):
        counts, at = {}, 0
        while at < len(received):  # not "while 9 bytes are left"
            length, kind, _, stream = struct.unpack("!IBBI", b"\0" + received[at:at + 9])
            if at + 9 + length > len(received):
                break  # a partial body is skipped, but a partial frame header crashed above
            if kind in (1, 9):
                stream &= 0x7FFFFFFF
                counts[stream] = counts.get(stream, 0) + 9 + length
            at += 9 + length
        return counts

    assert_named(checks.check_13_header_bytes, crashes, origin, exercise="13.1",
                 says="raised error: unpack requires")


def test_an_unwritten_counter_is_called_not_written(origin):
    def unwritten(received):
        raise NotImplementedError

    assert_named(checks.check_13_header_bytes, unwritten, origin, exercise="13.1",
                 says="not written yet")


def decode_blocks(blocks):
    decoder = hpack.Decoder()
    return [decoder.decode(block) for block in blocks]


def test_right_decoding_passes(origin, capsys):
    assert_passes(checks.check_13_decode_blocks, decode_blocks, origin, exercise="13.2",
                  capsys=capsys)


def test_a_fresh_decoder_per_block_is_told_to_keep_one(origin):
    def fresh(blocks):
        return [hpack.Decoder().decode(block) for block in blocks]

    assert_named(checks.check_13_decode_blocks, fresh, origin, exercise="13.2",
                 says="with one hpack.Decoder", hint=True)


def test_blocks_decoded_out_of_order_are_told_the_order_matters(origin):
    def backwards(blocks):
        decoder = hpack.Decoder()
        return [decoder.decode(block) for block in reversed(blocks)][::-1]

    assert_named(checks.check_13_decode_blocks, backwards, origin, exercise="13.2",
                 says="in the order sent", hint=True)


def test_raw_bytes_are_named(origin):
    def raw(blocks):
        decoder = hpack.Decoder()
        return [decoder.decode(block, raw=True) for block in blocks]

    assert_named(checks.check_13_decode_blocks, raw, origin, exercise="13.2",
                 says="as bytes", hint=True)


def test_one_flat_list_is_asked_to_be_one_list_per_block(origin):
    def flat(blocks):
        decoder = hpack.Decoder()
        return [field for block in blocks for field in decoder.decode(block)]

    assert_named(checks.check_13_decode_blocks, flat, origin, exercise="13.2",
                 says="one list of fields per block", hint=True)


def test_an_unwritten_decoder_is_called_not_written(origin):
    def unwritten(blocks):
        raise NotImplementedError

    assert_named(checks.check_13_decode_blocks, unwritten, origin, exercise="13.2",
                 says="not written yet")
