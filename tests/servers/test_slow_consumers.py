"""The feed lets a stuck client go (lesson 11): ``write_timeout``, with real stalled sockets.

A stalled client is a raw socket that sends its request and never reads a byte. The server
must close it within ``write_timeout`` (plus the watch's period and the close grace) after it
stalled, keep every fast client fast and complete, hold no more memory for the posts the
stalled ones missed, and let a returning client resume from its ``Last-Event-ID``.
"""

from __future__ import annotations

import json
import socket

import httpx
import psutil
import pytest
from support import wait_until

from lab.loadgen import Group, LoadGenerator
from lab.slow_sockets import closed_by_server, stalled_client
from lab.stats import check_delivered_once_in_order
from servers import runtime, serve
from servers.cluster import Backend
from servers.feed import Feed, make_app
from servers.sse import EventParser
from servers.stalls import STALLS, StallWatch

WRITE_TIMEOUT = 2.0
TEXT = "x" * 900


def test_stalled_clients_are_let_go_while_fast_ones_get_every_post_and_memory_stays_flat():
    backend = Backend("slow-consumers", extra=["--write-timeout", str(WRITE_TIMEOUT)]).start()
    stalled: list[socket.socket] = []
    try:
        with LoadGenerator(backend.url, [Group("fast", "sse", 20)]) as load:
            stalled = [stalled_client(backend.port, kind) for kind in ["sse", "ws"] * 10]

            def held() -> dict:
                return httpx.get(backend.url + "/backend").json()

            wait_until(lambda: held()["waiting"] == 30 and held()["sockets"] == 10, 30,
                       "20 fast and 10 stalled streams, and 10 stalled sockets")  # fmt: skip
            server = psutil.Process(held()["pid"])
            before = server.memory_info().rss
            ids = []
            with httpx.Client(base_url=backend.url) as client:
                for _ in range(2000):
                    ids.append(client.post("/posts", json={"text": TEXT}).json()["id"])
            every_stalled_one = "every stalled connection to be closed by the server"
            wait_until(lambda: all(closed_by_server(s) for s in stalled),
                       WRITE_TIMEOUT + 5, every_stalled_one)  # fmt: skip
            wait_until(lambda: load.mark()["fast"]["deliveries"] >= 20 * 2000, 60,
                       "every fast client to get every post")  # fmt: skip
            grown = server.memory_info().rss - before
            after = held()
        check_delivered_once_in_order(load.results["fast"].received_ids(), ids)
        assert load.results["fast"].connections == 20, "a fast client was let go"
        assert after["waiting"] == 20 and after["sockets"] == 0, after  # the stalled are gone
        assert grown < 32 * 2**20, f"the server grew by {grown / 2**20:.1f} MiB"
    finally:
        for sock in stalled:
            sock.close()
        backend.stop()


@pytest.mark.parametrize("history", [1000, 300])
def test_a_stalled_client_that_comes_back_resumes_from_its_last_event_id(history):
    feed = Feed(history=history)
    app = make_app(feed, write_timeout=1.0)
    with serve(app, name="test-slow-resume") as server:
        for _ in range(3):
            feed.publish("read before the stall")
        sock = stalled_client(server.port, "sse", last_event_id=1)  # it had read post 1
        wait_until(lambda: feed.waiting == 1, what="the stalled stream to wait for posts")
        for _ in range(500):  # ~0.5 MB (0.3 MB held): more than its buffers absorb (~0.2 MB)
            feed.publish(TEXT)
        wait_until(lambda: closed_by_server(sock), 10, "the stalled stream to be let go")
        sock.close()
        wait_until(lambda: feed.waiting == 0 and len(app[STALLS]) == 0, 5, "nothing held")
        assert app[STALLS].let_go_count == 1
        parser, events = EventParser(), []
        headers = {"Last-Event-ID": "1"}
        with httpx.stream("GET", server.url + "/events", headers=headers, timeout=10) as r:
            for chunk in r.iter_raw():
                events += parser.feed(chunk)
                if events and events[-1].last_event_id == str(feed.last_id):
                    break
    posts = [json.loads(e.data)["id"] for e in events if e.type == "message"]
    if history == 1000:  # the history still holds everything after post 1: no loss
        assert [e.type for e in events] == ["message"] * 502 and posts == list(range(2, 504))
    else:  # it no longer does: told so first, then every post still held
        assert events[0].type == "gap"
        assert json.loads(events[0].data) == {"missed_after": 1, "oldest_held": 204}
        assert posts == list(range(204, 504))
    assert runtime.pending_tasks() == []


def test_a_fast_reader_under_a_short_write_timeout_is_never_let_go():
    feed = Feed(history=2000)
    app = make_app(feed, write_timeout=0.5)
    with serve(app, name="test-slow-fast-reader") as server:
        parser, events = EventParser(), []
        with httpx.stream("GET", server.url + "/events", timeout=10) as r:
            wait_until(lambda: feed.waiting == 1, what="the stream to wait for posts")
            for _ in range(2000):
                feed.publish(TEXT)
            try:
                for chunk in r.iter_raw():
                    events += parser.feed(chunk)
                    if events and events[-1].last_event_id == "2000":
                        break
            except httpx.RemoteProtocolError:
                pytest.fail(f"the server let a client go that was reading (after {len(events)})")
        assert [int(e.last_event_id) for e in events] == list(range(1, 2001))
        assert app[STALLS].let_go_count == 0


def test_the_stall_watch_refuses_a_write_timeout_that_is_not_positive():
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="write_timeout must be a positive number"):
            StallWatch(bad)
