"""lab.slow_clients: fast and slow clients in one child process, and what a slow one parses."""

from __future__ import annotations

import json
import struct

from lab.slow_clients import Crowd, Slow, SlowLog, SlowReader, request_bytes
from servers.rfc6455 import CLOSE, TEXT, encode_frame
from servers.sse import encode_event
from servers.timing import wait_until

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"


def test_a_slow_sse_reader_finds_posts_and_gap_notices_across_split_reads():
    log = SlowLog("sse", "sleepy")
    reader = SlowReader(log)
    stream = (
        HEAD
        + encode_event('{"id": 1}', id=1)
        + encode_event(json.dumps({"missed_after": 1, "oldest_held": 9}), event="gap")
        + encode_event('{"id": 9}', id=9)
    )
    for k in range(0, len(stream), 7):  # seven bytes at a time, the head split too
        reader.feed(stream[k : k + 7])
    assert log.ids == [1, 9] and log.gaps == [{"missed_after": 1, "oldest_held": 9}]
    assert log.bytes_read == len(stream) and not log.ended


def test_a_slow_websocket_reader_reads_posts_gaps_and_the_close_code():
    log = SlowLog("ws", "sleepy")
    reader = SlowReader(log)
    frames = (
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
        + encode_frame(TEXT, b'{"id": 4}')
        + encode_frame(TEXT, b'{"gap": {"missed_after": 4, "oldest_held": 7}}')
        + encode_frame(CLOSE, struct.pack("!H", 4008) + b"slow")
    )
    reader.feed(frames[:20])
    reader.feed(frames[20:])
    assert log.ids == [4] and log.gaps == [{"missed_after": 4, "oldest_held": 7}]
    assert log.ended and log.close_code == 4008


def test_slow_clients_ask_for_sse_in_http_1_0_and_for_a_websocket_upgrade():
    assert request_bytes("sse", "h", 1).startswith(b"GET /events HTTP/1.0\r\n")
    ws = request_bytes("ws", "h", 1)
    assert ws.startswith(b"GET /ws HTTP/1.1\r\n") and b"Upgrade: websocket" in ws
    assert ws.endswith(b"\r\n\r\n")


def test_a_crowd_reads_a_server_and_its_twin_and_a_sleepy_client_reads_everything_slowly(feed):
    from servers import serve
    from servers.feed import Feed, make_app

    twin_feed = Feed()
    with (
        serve(make_app(feed), name="test-crowd") as server,
        serve(make_app(twin_feed), name="test-crowd-twin") as twin,
        Crowd(
            server.url, fast=2, slow=[Slow("sse", "sleepy"), Slow("ws", "stalled")], twin=twin.url
        ) as crowd,
    ):
        assert crowd.connections == 6
        wait_until(lambda: feed.waiting >= 5 and twin_feed.waiting >= 4, 20, "every stream")
        posts = [feed.publish(f"post {n}") for n in range(20)]
        for post in posts:
            twin_feed.publish(post["text"])
        assert crowd.wait_for(posts[-1]["id"], give_up=20, slow=True)
    results = crowd.results
    ids = [p["id"] for p in posts]
    for fast in (results.fast, results.twin):
        assert all([a[0] for a in log["arrivals"]] == ids for k in fast for log in fast[k])
    sleepy, stalled = results.slow
    assert sleepy.ids == ids and stalled.ids == [] and stalled.bytes_read == 0
    assert results.delivered_share("sse", posts) == 1.0
    assert all(0 <= v < 20 for v in results.latencies("ws", posts, twin=True))
