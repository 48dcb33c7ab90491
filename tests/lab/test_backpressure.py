"""lab.backpressure: four fan-out designs, the bounded queue's policies, what a server holds."""

from __future__ import annotations

import asyncio
import socket

import pytest

from lab.backpressure import DESIGNS, FanOut, Holdings, _Client
from servers import serve
from servers.stalls import SEND_BUFFER
from servers.timing import wait_until


def queue_of(policy: str, posts: int, limit: int | None = 3) -> tuple[_Client, list[bool]]:
    async def fill():
        client = _Client(send=None, kind="sse")
        taken = [client.push({"id": n}, b"x" * 10, limit, policy) for n in range(1, posts + 1)]
        return client, taken

    return asyncio.run(fill())


def test_drop_oldest_keeps_the_newest_posts_and_counts_the_dropped():
    client, taken = queue_of("drop-oldest", 5)
    assert [post["id"] for post, _ in client.queue] == [3, 4, 5]
    assert client.dropped == 2 and all(taken) and client.queued_bytes == 30


def test_latest_keeps_only_the_newest_post_once_the_queue_is_full():
    client, _ = queue_of("latest", 5)
    assert [post["id"] for post, _ in client.queue] == [4, 5]  # full at 3: 4 replaced 1-3
    assert client.dropped == 3


def test_disconnect_refuses_the_post_that_does_not_fit_and_marks_the_client():
    client, taken = queue_of("disconnect", 4)
    assert taken == [True, True, True, False] and client.kicked
    assert [post["id"] for post, _ in client.queue] == [1, 2, 3]


def test_an_unbounded_queue_never_drops():
    client, _ = queue_of("drop-oldest", 50, limit=None)
    assert len(client.queue) == 50 and client.dropped == 0


def test_unknown_designs_and_policies_are_refused_by_name():
    with pytest.raises(ValueError, match="naive"):
        FanOut("fast")
    with pytest.raises(ValueError, match="drop-oldest"):
        FanOut("bounded", policy="drop-newest")
    assert DESIGNS == ("naive", "unbounded", "bounded", "cursor")


@pytest.mark.parametrize("design", DESIGNS)
def test_every_design_streams_posts_in_the_feeds_framing_and_counts_the_stream(design):
    fanout = FanOut(design, holdings=Holdings(sndbuf=SEND_BUFFER))  # the feed's own, too
    with serve(fanout.app(), name=f"test-backpressure-{design}") as server:
        client = socket.create_connection((server.host, server.port))
        client.sendall(b"GET /events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        wait_until(lambda: fanout.holdings.open_streams == 1, 10, "the stream")
        wait_until(lambda: design == "cursor" or fanout.clients, 10, "the client")
        post = fanout.feed.publish("hello")
        received = b""
        client.settimeout(10)
        while f'"id":{post["id"]}'.encode() not in received:
            received += client.recv(65536)
        assert f"id: {post['id']}\n".encode() in received
        (transport,) = list(fanout.holdings.transports)
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * SEND_BUFFER  # doubled
        client.close()
    wait_until(lambda: fanout.holdings.samples, 5, "a sample")


def test_an_unbounded_queue_holds_what_a_stalled_client_did_not_take_and_a_bounded_one_does_not():
    held = {}
    for design in ("unbounded", "bounded"):
        fanout = FanOut(design, queue_posts=8, holdings=Holdings(sndbuf=4096))
        with serve(fanout.app(), name=f"test-backpressure-held-{design}") as server:
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect((server.host, server.port))
            client.sendall(b"GET /events HTTP/1.0\r\n\r\n")
            wait_until(lambda f=fanout: f.clients, 10, "the client")
            for _ in range(400):
                fanout.feed.publish("x" * 4000)
            wait_until(lambda f=fanout: f.feed.last_id == 400 and f.clients[0].queued_bytes, 10)
            held[design] = fanout.holdings.held()[1]
            client.close()
    assert held["bounded"] <= 8 * 4100
    assert held["unbounded"] > 10 * held["bounded"]
