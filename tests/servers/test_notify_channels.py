"""The notification service's channels (lesson 14): resume, gaps, ids per channel, any backend.

The peers are independent clients (httpx, httpx-sse) talking to the service served in this
process; two apps sharing one backplane (in-process, or a real Redis) play two backends.
"""

from __future__ import annotations

import pytest
from notify_support import login, post, read, texts
from support import needs

from servers import runtime, serve
from servers.notify import MemoryBrokers, RedisBrokers, Signer, make_app


@pytest.fixture(params=["memory", "redis"])
def backplane(request):
    """A factory of brokers (``history`` posts a channel) shared by every app of the test."""
    if request.param == "memory":
        yield MemoryBrokers
        return
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as redis:
        yield lambda history=100: RedisBrokers(redis.url, history=history)


def test_a_client_that_reconnects_with_its_last_event_id_gets_every_post_once_in_order(backplane):
    with serve(make_app(brokers=backplane()), name="test-notify-resume") as server:
        token = login(server.url, "alice")
        sent = [post(server.url, "broadcast", f"n{k}", token) for k in range(1, 4)]
        first = read(server.url, "broadcast", 3)  # then the client goes away
        sent += [post(server.url, "broadcast", f"n{k}", token) for k in range(4, 7)]
        again = read(server.url, "broadcast", 3, last_id=first[-1][1])
    assert [p["id"] for p in sent] == [1, 2, 3, 4, 5, 6]
    assert texts(first) + texts(again) == [(k, f"n{k}") for k in range(1, 7)]
    assert runtime.pending_tasks() == []


def read_after_six_posts(last_id: str, count: int) -> list:
    """Six posts to ``broadcast`` (a history of three), then ``count`` events after ``last_id``."""
    with serve(make_app(brokers=MemoryBrokers(history=3)), name="test-notify-gap") as server:
        token = login(server.url, "alice")
        for k in range(1, 7):
            post(server.url, "broadcast", f"n{k}", token)
        return read(server.url, "broadcast", count, last_id=last_id)


def test_a_client_away_longer_than_the_history_is_told_of_the_gap_then_gets_what_is_held():
    events = read_after_six_posts("1", 4)
    assert events[0][0] == "gap", f"no gap notice first: {events}"
    assert events[0][2] == {"missed_after": 1, "oldest_held": 4}
    assert texts(events[1:]) == [(4, "n4"), (5, "n5"), (6, "n6")]


def test_a_client_within_the_history_gets_no_gap():
    events = read_after_six_posts("4", 2)
    assert [kind for kind, _, _ in events] == ["message", "message"]
    assert texts(events) == [(5, "n5"), (6, "n6")]


def test_every_channel_numbers_its_own_posts_from_one():
    with serve(make_app(), name="test-notify-ids") as server:
        alice, bob = login(server.url, "alice"), login(server.url, "bob")
        ids = [
            post(server.url, "broadcast", "all", alice)["id"],
            post(server.url, "broadcast", "all again", bob)["id"],
            post(server.url, "alice", "for alice", bob)["id"],
            post(server.url, "bob", "for bob", alice)["id"],
        ]
        mine = read(server.url, "alice", 1, token=alice)
    assert ids == [1, 2, 1, 1]
    assert texts(mine) == [(1, "for alice")]


def test_a_client_resumes_on_another_backend_of_the_same_backplane(backplane):
    brokers, signer = backplane(), Signer(b"shared secret")
    with (
        serve(make_app(brokers=brokers, signer=signer), name="test-notify-b1") as b1,
        serve(make_app(brokers=brokers, signer=signer), name="test-notify-b2") as b2,
    ):
        token = login(b1.url, "alice")
        for k in range(1, 4):
            post(b1.url, "alice", f"n{k}", token)
        first = read(b1.url, "alice", 2, token=token)  # b1 dies, say: the client moves on
        post(b2.url, "alice", "n4", token)
        rest = read(b2.url, "alice", 2, last_id=first[-1][1], token=token)
    assert texts(first) + texts(rest) == [(1, "n1"), (2, "n2"), (3, "n3"), (4, "n4")]
