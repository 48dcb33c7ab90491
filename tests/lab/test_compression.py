"""lab.compression: a gzip stream holds events back, a flush per event costs, lengths leak."""

from __future__ import annotations

import gzip
import secrets
import zlib

from lab import compression
from servers.sse import encode_event

EVENTS = [encode_event(f'{{"id": {i}, "text": "post {i} about the weather"}}', id=i)
          for i in range(1, 21)]


def test_a_gzip_stream_without_a_flush_lets_no_event_through():
    sent = compression.held_back(EVENTS)
    assert len(sent) == len(EVENTS)
    assert max(sent) < len(EVENTS[0])  # only gzip's 10-byte header, not one event


def test_a_flush_per_event_costs_bytes_and_each_event_alone_costs_more_than_a_shared_context():
    sizes = compression.stream_sizes(EVENTS)
    assert sizes.raw == sum(map(len, EVENTS))
    assert sizes.whole < sizes.flushed < sizes.alone < sizes.raw


def test_the_flushed_stream_decodes_to_the_events_event_by_event():
    stream = zlib.compressobj(wbits=compression.GZIP)
    chunks = [stream.compress(e) + stream.flush(zlib.Z_SYNC_FLUSH) for e in EVENTS]
    reader = zlib.decompressobj(wbits=compression.GZIP)
    assert [reader.decompress(chunk) for chunk in chunks] == EVENTS
    assert gzip.decompress(b"".join(chunks) + stream.flush()) == b"".join(EVENTS)


def test_a_message_compressed_alone_decodes_once_the_stripped_tail_is_put_back():
    one = zlib.compressobj(wbits=compression.RAW)
    message = (one.compress(EVENTS[0]) + one.flush(zlib.Z_SYNC_FLUSH)).removesuffix(
        compression.SYNC_TAIL)
    reader = zlib.decompressobj(wbits=compression.RAW)
    assert reader.decompress(message + compression.SYNC_TAIL) == EVENTS[0]  # RFC 7692 §7.2.2


def test_the_guess_that_matches_the_secret_gives_the_shortest_message_every_time():
    for _ in range(20):
        secret = secrets.token_hex(8)
        wrong = [secrets.token_hex(8) for _ in range(5)]
        lengths = compression.guess_lengths(secret, [*wrong, secret])
        assert lengths[secret] < min(lengths[g] for g in wrong)
