"""servers.backplane.relaying: the relay from a broker into a feed, ids kept; and Feed.add,
which it inserts with."""

from __future__ import annotations

import asyncio
import logging

import pytest

from servers.backplane import MemoryBroker, relay
from servers.feed import Feed
from servers.timing import scaled


async def until(condition, what: str, timeout: float = 5.0) -> None:
    """Wait on this loop until ``condition()`` holds; fail after ``timeout`` (scaled) seconds."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"waited in vain for {what}"
        await asyncio.sleep(0.01)


# --- Feed.add -------------------------------------------------------------------------------


def test_add_keeps_the_given_id_and_ignores_ids_already_passed():
    feed = Feed()
    assert feed.add({"id": 7, "text": "seven", "ts": 1.0})
    assert not feed.add({"id": 7, "text": "seven again", "ts": 2.0})
    assert not feed.add({"id": 3, "text": "too late", "ts": 3.0})
    assert feed.add({"id": 9, "text": "nine", "ts": 4.0})
    assert [(p["id"], p["text"]) for p in feed.since(0)] == [(7, "seven"), (9, "nine")]
    assert feed.since(7) == [{"id": 9, "text": "nine", "ts": 4.0}]
    assert feed.last_id == 9 and feed.oldest_id == 7


@pytest.mark.parametrize(
    "message",
    ["text", None, {"text": "no id", "ts": 1.0}, {"id": "1", "text": "x", "ts": 1.0},
     {"id": 0, "text": "x", "ts": 1.0}, {"id": True, "text": "x", "ts": 1.0},
     {"id": 1, "text": 5, "ts": 1.0}, {"id": 1, "text": "x"}],
)  # fmt: skip
def test_add_refuses_what_is_not_a_post(message):
    with pytest.raises(ValueError, match="not a post"):
        Feed().add(message)


def test_add_wakes_a_long_poll():
    feed = Feed()

    async def scenario():
        waiting = asyncio.ensure_future(feed.wait_for_posts(0, 5))
        await asyncio.sleep(0.01)
        feed.add({"id": 41, "text": "relayed", "ts": 1.0})
        return await waiting

    assert [p["id"] for p in asyncio.run(scenario())] == [41]


# --- the relay ---------------------------------------------------------------------------------


def test_a_relay_catches_up_after_the_backplane_restarts_and_pure_pub_sub_does_not():
    broker = MemoryBroker()
    replaying, pure = Feed(), Feed()

    async def scenario():
        tasks = [
            asyncio.ensure_future(relay(replaying, broker, retry=0.2)),
            asyncio.ensure_future(relay(pure, broker, retry=0.2, replay=False)),
        ]
        while broker.subscribers < 2:
            await asyncio.sleep(0.01)
        await broker.publish("one")
        broker.stop()
        broker.start()
        await broker.publish("while the relays were away")
        while broker.subscribers < 2:
            await asyncio.sleep(0.01)
        await broker.publish("three")
        await until(lambda: replaying.last_id == pure.last_id == 3, "both relays to get post 3")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())
    assert [p["id"] for p in replaying.since(0)] == [1, 2, 3]
    assert [p["id"] for p in pure.since(0)] == [1, 3]


def test_a_relay_warns_when_the_history_no_longer_reaches_back_to_its_feed(caplog):
    broker, feed = MemoryBroker(history=2, first_id=2), Feed()
    feed.add({"id": 1, "text": "one", "ts": 1.0})

    async def scenario():
        for n in range(2, 6):
            await broker.publish(f"post {n}")
        task = asyncio.ensure_future(relay(feed, broker))
        while feed.last_id < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [p["id"] for p in feed.since(0)] == [1, 4, 5]
    assert "posts 2 to 3 are no longer in the shared history" in caplog.text


def test_a_relay_that_dies_of_an_unexpected_error_says_so(caplog):
    class Broken(MemoryBroker):
        def subscribe(self):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(relay(Feed(), Broken()))
    assert "the relay stopped: this backend receives no more posts" in caplog.text
    assert caplog.records[-1].levelno == logging.ERROR


def test_a_relay_skips_a_message_that_is_not_a_post():
    broker, feed = MemoryBroker(), Feed()

    async def scenario():
        task = asyncio.ensure_future(relay(feed, broker))
        while broker.subscribers < 1:
            await asyncio.sleep(0.01)
        await broker.inject({"text": "no id"})
        await broker.publish("a real post")
        while feed.last_id < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [p["text"] for p in feed.since(0)] == ["a real post"]
