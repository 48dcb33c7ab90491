"""lab.pubsub: SSE listeners on every backend, and posts spread over them (lesson 10).

On the in-process backplane (backends served in this kernel), so these run anywhere; the
backplane itself is tested in tests/servers/test_backplane*.py.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import wait_until

from lab.pubsub import Backplane, Listeners, post_to, stop_all, try_post
from lab.stats import check_delivered_once_in_order


@pytest.fixture
def backplane():
    plane = Backplane.start(use_redis=False)
    yield plane
    stop_all(plane._backends)
    plane.shutdown()


@pytest.fixture
def backends(backplane):
    return backplane.backends(["test-pubsub-a", "test-pubsub-b"])


def waiting(backend) -> int:
    return httpx.get(backend.url + "/backend").json()["waiting"]


async def post_later(backends, texts):
    await asyncio.sleep(0.1)  # after settle() has begun waiting
    return await post_to(backends, texts)


def test_post_to_spreads_the_texts_over_the_backends_in_turn_and_names_who_took_each(backends):
    posts = asyncio.run(post_to(backends, ["one", "two", "three"]))
    assert [p["text"] for p in posts] == ["one", "two", "three"]
    assert [p["backend"] for p in posts] == ["test-pubsub-a", "test-pubsub-b", "test-pubsub-a"]
    assert [p["id"] for p in posts] == [1, 2, 3]  # one numbering, through the backplane


def test_listeners_on_every_backend_get_every_post_once_in_order_whoever_took_it(backends):
    async def scenario():
        async with Listeners(backends, per_backend=2) as listeners:
            assert [waiting(b) for b in backends] == [2, 2]  # parked before the block runs
            posting = asyncio.ensure_future(post_later(backends, ["a", "b", "c", "d"]))
            await listeners.settle([1, 2, 3, 4], quiet=0)  # waits for posts not yet made
        return listeners, [p["id"] for p in await posting]

    listeners, ids = asyncio.run(scenario())
    check_delivered_once_in_order(listeners.received_ids(), ids)
    grouped = listeners.by_backend()
    assert sorted(grouped) == ["test-pubsub-a", "test-pubsub-b"]
    assert [len(clients) for clients in grouped.values()] == [2, 2]
    assert len(listeners.latencies()) == 4 * 4 and min(listeners.latencies()) >= 0
    assert len(listeners.latencies([ids[0]])) == 4  # one arrival per client of that post
    wait_until(lambda: [waiting(b) for b in backends] == [0, 0], what="the listeners to leave")


def test_try_post_returns_the_status_and_the_answer_whatever_they_are(backplane, backends):
    status, post = asyncio.run(try_post(backends[0], "fine"))
    assert (status, post["text"]) == (201, "fine")
    assert asyncio.run(try_post(backends[0], "")) == (400, {"error": '"text" is empty'})
    backplane.stop()
    status, answer = asyncio.run(try_post(backends[1], "while the backplane is down"))
    assert status == 503 and "backplane is unavailable" in answer["error"]


def test_post_to_fails_loudly_when_a_backend_refuses_a_post(backplane, backends):
    backplane.stop()
    with pytest.raises(httpx.HTTPStatusError, match="503"):
        asyncio.run(post_to(backends, ["refused"]))


def test_stop_all_stops_every_backend_even_when_one_fails_to_stop(backends):
    class Broken:
        def stop(self):
            raise RuntimeError("cannot stop")

    stop_all([Broken(), *backends])
    for backend in backends:
        with pytest.raises(httpx.ConnectError):
            httpx.get(backend.url + "/backend")
