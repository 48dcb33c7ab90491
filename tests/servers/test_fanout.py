"""servers.fanout (lesson 11): one broadcaster per feed encodes each post once and writes it
to every stream that keeps up; a stream that falls behind catches up from the history on its
own, told of a gap when the history no longer reaches back to it."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import httpx
from support import wait_until

from lab.clients import ClientLog, sse_listen, ws_listen
from servers import fanout, runtime, serve
from servers.feed import Feed, make_app
from servers.sse import EventParser

TEXT = "y" * 900


def listen_to(url: str, feed: Feed, kinds: list[str], texts: list[str]) -> list[list[int]]:
    """Clients of ``kinds`` ("sse", "ws"); once all wait, publish ``texts``; their ids."""

    async def scenario():
        stop, logs = asyncio.Event(), [ClientLog() for _ in kinds]
        async with aiohttp.ClientSession() as session:
            listen = {"sse": sse_listen, "ws": ws_listen}
            tasks = [asyncio.ensure_future(listen[kind](session, url, stop=stop, log=log))
                     for kind, log in zip(kinds, logs, strict=True)]  # fmt: skip
            await asyncio.to_thread(wait_until, lambda: feed.waiting == len(kinds))
            for text in texts:
                feed.publish(text)
            last = feed.last_id
            await asyncio.to_thread(wait_until, lambda: all(g.last_id == last for g in logs))
            stop.set()
            await asyncio.gather(*tasks)
        return [[i for i, _, _ in log.arrivals] for log in logs]

    return asyncio.run(scenario())


def test_each_post_is_encoded_once_per_wire_format_whatever_the_number_of_streams(monkeypatch):
    encoded = []
    real = fanout.encode
    counted = lambda kind, *rest: encoded.append(kind) or real(kind, *rest)  # noqa: E731
    monkeypatch.setattr(fanout, "encode", counted)
    feed = Feed()
    with serve(make_app(feed), name="test-fanout-once") as server:
        received = listen_to(server.url, feed, ["sse"] * 5 + ["ws"] * 5, ["one"])
    assert received == [[1]] * 10
    assert sorted(encoded) == [fanout.SSE_CHUNKED, fanout.WEBSOCKET]


def test_a_slow_reader_falls_behind_catches_up_from_the_history_and_misses_nothing():
    feed = Feed(history=2000)
    with serve(make_app(feed, write_timeout=30), name="test-fanout-slow") as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        sock.connect((server.host, server.port))
        sock.sendall(b"GET /events HTTP/1.0\r\n\r\n")  # HTTP/1.0: a bare, unchunked body
        wait_until(lambda: feed.waiting == 1, what="the stream to wait for posts")
        for _ in range(600):  # ~0.6 MB: far more than the stream's buffers and LIVE_LIMIT
            feed.publish(TEXT)
        wait_until(lambda: feed.waiting == 0, what="the stream to leave the live set")
        parser, events, head = EventParser(), [], b""
        sock.settimeout(10)
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        while not events or events[-1].last_event_id != "600":
            chunk = sock.recv(4096)
            assert chunk, "the server ended the stream"
            events += parser.feed(chunk)
        wait_until(lambda: feed.waiting == 1, what="the stream to rejoin the live set")
        sock.close()
    ids = [int(e.last_event_id) for e in events if e.type == "message"]
    assert ids == list(range(1, 601))


async def publish_paced(feed: Feed, count: int) -> None:
    """Publish on the servers' loop, letting the hub write each post before the next: the
    hub keeps up, so a gap can only be a stream's own."""
    for _ in range(count):
        feed.publish(TEXT)
        await asyncio.sleep(0)


def test_a_stream_that_fell_behind_the_history_is_told_of_the_gap_mid_stream():
    feed = Feed(history=50)
    server = serve(make_app(feed, write_timeout=30), name="test-fanout-gap")
    with server, httpx.stream("GET", server.url + "/events", timeout=10) as response:
        wait_until(lambda: feed.waiting == 1, what="the stream to wait for posts")
        chunks = response.iter_raw()
        feed.publish("first")
        parser, events = EventParser(), []
        while not events:
            events += parser.feed(next(chunks))
        runtime.run(publish_paced(feed, 1000))  # ~1 MB while the client reads nothing
        while not events or events[-1].last_event_id != "1001":
            events += parser.feed(next(chunks))
    kinds = [e.type for e in events]
    ids = [int(e.last_event_id) for e in events if e.type == "message"]
    assert ids[0] == 1 and ids[-50:] == list(range(952, 1002)) and ids == sorted(ids)
    assert kinds.count("gap") >= 1, "the stream skipped posts without a gap notice"
    for at in [k for k, kind in enumerate(kinds) if kind == "gap"]:
        gap = json.loads(events[at].data)
        assert int(events[at - 1].last_event_id) == gap["missed_after"]
        assert int(events[at + 1].last_event_id) == gap["oldest_held"]
        assert gap["oldest_held"] > gap["missed_after"] + 1


def test_a_hub_with_no_streams_left_stops_listening_and_leaves_no_task():
    feed = Feed()
    with serve(make_app(feed), name="test-fanout-idle") as server:
        assert listen_to(server.url, feed, ["sse", "ws"], ["a", "b"]) == [[1, 2], [1, 2]]
        wait_until(lambda: feed.waiting == 0, what="the streams to end")
        assert feed._listeners == {}
    assert runtime.pending_tasks() == []
