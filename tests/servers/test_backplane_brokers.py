"""servers.backplane's brokers: the one contract, kept by MemoryBroker and RedisBroker alike."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time

import pytest
from support import needs

from servers.backplane import (
    BackplaneUnavailable,
    Broker,
    KeyReused,
    MemoryBroker,
    RedisBroker,
)
from servers.runtime import serve_streams

CONTRACT = [name for name in dir(Broker) if not name.startswith("_")]


@pytest.mark.parametrize("broker_class", [MemoryBroker, RedisBroker])
def test_each_broker_implements_every_method_of_the_contract_async_as_the_contract_says(
    broker_class,
):
    assert {"publish", "publish_counting", "count_subscribers", "inject", "since"} <= set(CONTRACT)
    for name in CONTRACT:
        promised, kept = getattr(Broker, name), getattr(broker_class, name)
        assert inspect.iscoroutinefunction(kept) == inspect.iscoroutinefunction(promised), name
        assert list(inspect.signature(kept).parameters) == list(
            inspect.signature(promised).parameters
        ), name


# --- the brokers, each run on both ----------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def make_broker(request):
    """A factory for a fresh broker (called inside the test's event loop), and a way to restart
    its backplane."""
    if request.param == "memory":
        broker = MemoryBroker()
        yield (lambda: broker), (broker.stop, broker.start)
        return
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as server:
        yield (lambda: RedisBroker(server.url)), (lambda: server.stop(keep_data=True), server.start)


def test_a_broker_numbers_posts_and_delivers_them_in_order_to_every_subscriber(make_broker):
    new_broker, _ = make_broker

    async def scenario():
        broker = new_broker()
        async with broker.subscribe() as first, broker.subscribe() as second:
            published = [await broker.publish(f"post {n}", ts=float(n)) for n in range(5)]
            got = [[await anext(aiter(s)) for _ in range(5)] for s in (first, second)]
        history = await broker.since(2)
        await broker.close()
        return published, got, history

    published, got, history = asyncio.run(scenario())
    assert [p["id"] for p in published] == [1, 2, 3, 4, 5]
    assert published[0] == {"id": 1, "text": "post 0", "ts": 0.0}
    assert got == [published, published]
    assert history == published[2:]


def test_a_broker_that_goes_down_cuts_subscriptions_and_refuses_posts(make_broker):
    new_broker, (down, up) = make_broker

    async def scenario():
        broker = new_broker()
        await broker.publish("before")
        async with broker.subscribe() as posts:
            await asyncio.to_thread(down)
            with pytest.raises(BackplaneUnavailable):
                await asyncio.wait_for(anext(aiter(posts)), 5)
        with pytest.raises(BackplaneUnavailable):
            await broker.publish("while down")
        await asyncio.to_thread(up)
        after = await broker.publish("after")
        history = await broker.since(0)
        await broker.close()
        return after, history

    after, history = asyncio.run(scenario())
    assert after["id"] == 2
    assert [p["text"] for p in history] == ["before", "after"]


def test_a_broker_says_how_many_subscribers_a_post_reached(make_broker):
    new_broker, _ = make_broker

    async def scenario():
        broker = new_broker()
        _, unheard = await broker.publish_counting("before anyone subscribed")
        async with broker.subscribe(), broker.subscribe():
            post, heard = await broker.publish_counting("heard", ts=1.0)
            subscribers = await broker.count_subscribers()
        await broker.close()
        return unheard, post, heard, subscribers

    unheard, post, heard, subscribers = asyncio.run(scenario())
    assert (unheard, heard, subscribers) == (0, 2, 2)
    assert post == {"id": 2, "text": "heard", "ts": 1.0}


def test_a_broker_publishes_once_per_idempotency_key_and_delivers_only_the_first(make_broker):
    new_broker, (down, up) = make_broker

    async def scenario():
        broker = new_broker()
        async with broker.subscribe() as posts:
            first = await broker.publish_once("hello", "k1", ts=1.0)
            again = await broker.publish_once("hello", "k1", ts=2.0)
            with pytest.raises(KeyReused, match="already used for post 1"):
                await broker.publish_once("other text", "k1")
            other = await broker.publish_once("hello", "k2", ts=3.0)
            delivered = [await anext(aiter(posts)) for _ in range(2)]
        await asyncio.to_thread(down)
        with pytest.raises(BackplaneUnavailable):
            await broker.publish_once("hello", "k3")
        await asyncio.to_thread(up)
        after_restart = await broker.publish_once("hello", "k1")  # kept with the data
        history = await broker.since(0)
        await broker.close()
        return first, again, other, delivered, after_restart, history

    first, again, other, delivered, after_restart, history = asyncio.run(scenario())
    assert first == ({"id": 1, "text": "hello", "ts": 1.0}, False)
    assert again == (first[0], True)
    assert other == ({"id": 2, "text": "hello", "ts": 3.0}, False)
    assert delivered == [first[0], other[0]]
    assert after_restart == (first[0], True)
    assert [p["id"] for p in history] == [1, 2]


def test_concurrent_retries_under_one_key_publish_once(make_broker):
    """Mutant: looking the key up, publishing and remembering it as three steps (each
    awaited) lets retries that overlap all find no key and all publish."""
    new_broker, _ = make_broker

    async def scenario():
        broker = new_broker()
        answers = await asyncio.gather(*(broker.publish_once("hi", "k") for _ in range(20)))
        history = await broker.since(0)
        await broker.close()
        return answers, history

    answers, history = asyncio.run(scenario())
    assert sorted(replayed for _, replayed in answers) == [False] + [True] * 19
    assert {post["id"] for post, _ in answers} == {1} and len(history) == 1


def test_redis_keeps_a_keys_digest_not_the_key_nor_the_text():
    import redis

    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as server:

        async def scenario():
            broker = RedisBroker(server.url, prefix="t")
            await broker.publish_once("a private text", "alice:a key {with} braces")
            await broker.close()

        asyncio.run(scenario())
        client = redis.Redis.from_url(server.url)
        [name] = client.keys("t:once:*")
        kept, ttl = client.get(name), client.ttl(name)
        client.close()
    assert b"private" not in kept and b"braces" not in name
    assert len(name) == len(b"t:once:") + 32 and 0 < ttl <= 24 * 3600


def test_an_idempotency_key_is_forgotten_after_it_is_kept(make_broker):
    new_broker, _ = make_broker

    async def scenario():
        broker = new_broker()
        first, _ = await broker.publish_once("hello", "k", keep=1)
        await asyncio.sleep(1.3)
        later = await broker.publish_once("hello", "k")
        await broker.close()
        return first, later

    first, (later, replayed) = asyncio.run(scenario())
    assert (later["id"], replayed) == (first["id"] + 1, False)


def test_a_memory_broker_back_without_its_data_forgets_its_keys_with_its_posts():
    broker = MemoryBroker()
    asyncio.run(broker.publish_once("hello", "k"))
    broker.stop()
    broker.start(keep_data=False)
    assert asyncio.run(broker.publish_once("hello", "k")) == (
        {"id": 1, "text": "hello", "ts": pytest.approx(time.time(), abs=60)},
        False,
    )


def test_a_broker_that_is_down_lets_a_relay_retrying_at_once_share_its_loop():
    broker = MemoryBroker()
    broker.stop()
    finished = threading.Event()

    async def retry_at_once():
        while True:
            with contextlib.suppress(BackplaneUnavailable):
                async with broker.subscribe():
                    pass
            with contextlib.suppress(BackplaneUnavailable):
                await broker.since(0)

    async def scenario():
        spinning = asyncio.ensure_future(retry_at_once())
        await asyncio.sleep(0.05)  # never returns if the retries never yield the loop
        spinning.cancel()
        await asyncio.gather(spinning, return_exceptions=True)
        finished.set()

    threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True).start()
    assert finished.wait(10), "a relay retrying without a pause froze its event loop"


def test_a_faulty_message_reaches_subscribers_as_it_is(make_broker):
    new_broker, _ = make_broker

    async def scenario():
        broker = new_broker()
        async with broker.subscribe() as posts:
            await broker.inject("not a post")
            message = await asyncio.wait_for(anext(aiter(posts)), 5)
        await broker.close()
        return message

    assert asyncio.run(scenario()) in ("not a post", b"not a post")


def test_redis_numbers_posts_from_many_publishers_once_each_in_delivery_order():
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as server:

        async def scenario():
            publishers = [RedisBroker(server.url) for _ in range(4)]
            listener = RedisBroker(server.url)
            async with listener.subscribe() as posts:
                sent = await asyncio.gather(
                    *(b.publish(f"{n}-{k}") for n, b in enumerate(publishers) for k in range(25))
                )
                got = [await anext(aiter(posts)) for _ in range(100)]
            for broker in [*publishers, listener]:
                await broker.close()
            return sent, got

        sent, got = asyncio.run(scenario())
    assert sorted(p["id"] for p in sent) == list(range(1, 101))
    assert [p["id"] for p in got] == list(range(1, 101))


# --- Redis failures, played by a fake server ----------------------------------------------


async def _read_command(reader: asyncio.StreamReader) -> list[str] | None:
    line = await reader.readline()
    if not line.startswith(b"*"):
        return None
    words = []
    for _ in range(int(line[1:])):
        size = int((await reader.readline())[1:])
        words.append((await reader.readexactly(size + 2))[:-2].decode())
    return words


def _fake_redis(behaviour):
    """A server speaking just enough RESP: ``behaviour(words, writer)`` answers each command
    (``+OK`` when it returns True); returns the server and the commands received."""
    received: list[list[str]] = []

    async def handle(reader, writer):
        while (words := await _read_command(reader)) is not None:
            received.append(words)
            if behaviour(words, writer):
                writer.write(b"+OK\r\n")
            await writer.drain()

    return serve_streams(handle, scheme="redis"), received


def _subscribe_confirmed(words, writer):
    if words[0].upper() == "SUBSCRIBE":
        writer.write(b"*3\r\n$9\r\nsubscribe\r\n$10\r\nfeed:posts\r\n:1\r\n")
        return False
    return words[0].upper() != "PING"  # then deaf: a half-open connection


def test_a_redis_subscription_that_goes_half_open_is_given_up():
    server, received = _fake_redis(_subscribe_confirmed)

    async def scenario():
        broker = RedisBroker(f"redis://127.0.0.1:{server.port}", timeout=1, keepalive=0.2)
        try:
            async with broker.subscribe() as posts:
                with pytest.raises(BackplaneUnavailable, match="did not answer a PING"):
                    await asyncio.wait_for(anext(aiter(posts)), 5)
        finally:
            await broker.close()

    with server:
        asyncio.run(scenario())
    assert ["PING"] in received


def test_a_redis_subscription_never_confirmed_is_given_up():
    server, _ = _fake_redis(lambda words, writer: words[0].upper() != "SUBSCRIBE")

    async def scenario():
        broker = RedisBroker(f"redis://127.0.0.1:{server.port}", timeout=0.3)
        try:
            with pytest.raises(BackplaneUnavailable, match="did not confirm the subscription"):
                async with broker.subscribe():
                    pass
        finally:
            await broker.close()

    with server:
        asyncio.run(scenario())


def test_a_publish_cut_off_after_it_was_sent_is_not_sent_again():
    def cut_at_the_script(words, writer):
        if words[0].upper() in ("EVALSHA", "EVAL"):
            writer.close()
            return False
        return True

    server, received = _fake_redis(cut_at_the_script)

    async def scenario():
        broker = RedisBroker(f"redis://127.0.0.1:{server.port}")
        try:
            with pytest.raises(BackplaneUnavailable):
                await broker.publish("once")
        finally:
            await broker.close()

    with server:
        asyncio.run(scenario())
    assert [w[0].upper() for w in received].count("EVALSHA") == 1


def test_after_a_redis_restart_one_failed_command_clears_every_dead_pooled_connection():
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as server:

        async def scenario():
            broker = RedisBroker(server.url)
            await asyncio.gather(*(broker.publish(f"fills the pool {n}") for n in range(6)))
            await asyncio.to_thread(server.restart)
            with pytest.raises(BackplaneUnavailable, match="closed"):
                await broker.since(0)  # the one command a restart costs
            answers = await asyncio.gather(
                *(broker.publish(f"after {n}") for n in range(6)), return_exceptions=True
            )
            await broker.close()
            return answers

        answers = asyncio.run(scenario())
    assert [type(a).__name__ for a in answers if isinstance(a, Exception)] == []
