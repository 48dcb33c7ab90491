"""lab.fast_readers: readers that only recv while posts come, and parse afterwards."""

from __future__ import annotations

import json

import pytest
from support import wait_until

from lab.fast_readers import FastReaders, _posts
from servers import serve
from servers.feed import Feed, make_app
from servers.rfc6455 import TEXT, encode_frame
from servers.sse import encode_event


def test_a_post_arrives_when_the_chunk_that_completes_it_was_read():
    post = {"id": 7, "text": "hi", "ts": 100.0}
    sse = b"HTTP/1.0 200 OK\r\n\r\n" + encode_event(json.dumps(post), id=7)
    assert _posts("sse", [(1.0, sse[:25]), (2.0, sse[25:-1]), (3.0, sse[-1:])]) == [(7, 100.0, 3.0)]
    head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    frame = head + encode_frame(TEXT, json.dumps(post).encode())
    assert _posts("ws", [(1.0, frame[:-3]), (2.0, frame[-3:])]) == [(7, 100.0, 2.0)]


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_every_reader_gets_every_post_in_order_with_its_latency(kind):
    feed = Feed()
    server = serve(make_app(feed), name="test-fast-readers")
    with server, FastReaders(server.url, kind, 5) as readers:
        wait_until(lambda: feed.waiting == 5, what="5 readers held at the server")
        ids = [feed.publish(text)["id"] for text in "abc"]
        readers.expect(ids[-1])
    assert readers.received_ids() == [ids] * 5
    assert len(readers.latencies()) == 15 and all(v >= 0 for v in readers.latencies())


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match='kind must be "sse" or "ws"'):
        FastReaders("http://127.0.0.1:1", "poll", 1)
