"""lab.header_bytes: a poll's header bytes over HTTP/1.1 and HTTP/2, and an HPACK block read
field by field."""

from __future__ import annotations

import asyncio

import hpack

from lab.header_bytes import POLL_HEADERS, hpack_fields, http1_polls, http2_polls
from servers.multiplex import serve_multiplexed

PATHS = [f"/ping?since={k}" for k in range(1, 5)]


def test_http_1_1_polls_count_the_request_and_response_heads_up_to_the_blank_line():
    with serve_multiplexed(http2=False) as server:
        polls = asyncio.run(http1_polls(server.url, PATHS))
    request = f"GET {PATHS[0]} HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in POLL_HEADERS
    ) + "\r\n"
    assert polls[0].up == len(request.encode())
    assert all(p.down > len("HTTP/1.1 200 \r\n\r\n") for p in polls)


def test_http_2_polls_shrink_after_the_first_and_undercut_http_1_1():
    with serve_multiplexed(http2=True) as server:
        h2 = asyncio.run(http2_polls(server.url, PATHS))
        h1 = asyncio.run(http1_polls(server.url, PATHS))
    assert all(later.total < h2[0].total for later in h2[1:])
    assert all(b.total < a.total for a, b in zip(h1, h2, strict=True))
    assert all(p.up == 9 + len(p.block) for p in h2)  # the frame header, then the block


def test_hpack_fields_names_each_representation_and_its_size():
    encoder = hpack.Encoder()
    headers = [(":method", "GET"), (":path", "/a"), ("user-agent", "x" * 200)]
    first = encoder.encode(headers)
    second = encoder.encode([(":method", "GET"), (":path", "/b"), ("user-agent", "x" * 200)])
    one, two = hpack_fields([first, second])
    assert [(name, how) for name, how, _ in one] == [
        (":method", "indexed"), (":path", "literal"), ("user-agent", "literal")]
    assert [(name, how) for name, how, _ in two] == [
        (":method", "indexed"), (":path", "literal"), ("user-agent", "indexed")]
    assert sum(size for *_, size in one) == len(first)  # a long value's length spans bytes
    assert sum(size for *_, size in two) == len(second)


def test_hpack_fields_skips_a_dynamic_table_size_update():
    encoder = hpack.Encoder()
    encoder.header_table_size = 256  # the next block starts with a size update
    block = encoder.encode([(":method", "GET")])
    assert block[0] & 0xE0 == 0x20
    assert hpack_fields([block]) == [[(":method", "indexed", 1)]]


def test_the_response_header_bytes_agree_with_exercise_13s_reference_count():
    from lab.checks.l13 import reference

    received = bytearray()
    with serve_multiplexed(http2=True) as server:
        polls = asyncio.run(http2_polls(server.url, PATHS, received=received))
    per_stream = reference(bytes(received))
    assert [p.down for p in polls] == [per_stream[stream] for stream in sorted(per_stream)]
