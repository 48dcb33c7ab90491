"""servers.backplane, servers.redis_server: posts numbered once, delivered to every backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading

import httpx
import psutil
import pytest
from support import needs, wait_until

from servers import serve
from servers.backend import make_backend_app
from servers.backplane import (
    BackplaneUnavailable,
    LocalPublish,
    MemoryBroker,
    RedisBroker,
    attach,
    relay,
)
from servers.feed import Feed
from servers.runtime import serve_streams

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


# --- the brokers ----------------------------------------------------------------------------


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
            injected = broker.inject("not a post")
            if injected is not None:
                await injected
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


# --- the relay in backends ------------------------------------------------------------------


def test_backends_on_one_broker_share_every_post_with_the_brokers_ids():
    broker = MemoryBroker(first_id=50)
    apps = [make_backend_app(f"test-bp{n}") for n in (1, 2, 3)]
    feeds = [attach(app, broker) for app in apps]
    servers = [serve(app, name=f"test-bp{n}") for n, app in enumerate(apps, 1)]
    try:
        answers = [httpx.post(s.url + "/posts", json={"text": f"to {s.name}"}) for s in servers]
        assert [a.status_code for a in answers] == [201, 201, 201]
        assert [a.json()["id"] for a in answers] == [50, 51, 52]
        for server, answer in zip(servers, answers, strict=True):  # read-your-writes
            assert answer.json() in httpx.get(server.url + "/posts", params={"since": 0}).json()
        wait_until(lambda: all(f.last_id == 52 for f in feeds), what="every feed to hold 52")
        assert all([p["text"] for p in f.since(0)] == ["to test-bp1", "to test-bp2", "to test-bp3"]
                   for f in feeds)  # fmt: skip
        assert feeds[0].publish("from a cell")["id"] == 53  # another thread: through the broker
    finally:
        for server in servers:
            server.stop()


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
        await asyncio.sleep(0.1)
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
        broker.inject({"text": "no id"})
        await broker.publish("a real post")
        while feed.last_id < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [p["text"] for p in feed.since(0)] == ["a real post"]


def test_a_backplane_feed_refuses_a_local_publish_on_its_own_loop():
    broker = MemoryBroker()
    app = make_backend_app("test-local")
    feed = attach(app, broker)
    with serve(app, name="test-local"):
        from servers import runtime

        async def publish_on_the_loop():
            feed.publish("numbered locally")

        with pytest.raises(LocalPublish):
            runtime.run(publish_on_the_loop())


def test_a_post_while_the_backplane_is_down_gets_a_503_that_says_so():
    broker = MemoryBroker()
    app = make_backend_app("test-down")
    attach(app, broker)
    with serve(app, name="test-down") as server:
        broker.stop()
        answer = httpx.post(server.url + "/posts", json={"text": "lost?"})
        broker.start()
    assert answer.status_code == 503
    assert (
        "backplane is unavailable; the post may not have been published" in (answer.json()["error"])
    )


def test_a_backplane_that_lost_its_counter_makes_posts_fail_loudly_not_vanish(caplog):
    broker = MemoryBroker()
    app = make_backend_app("test-lost")
    feed = attach(app, broker)
    with serve(app, name="test-lost") as server:
        for text in ("one", "two"):
            assert httpx.post(server.url + "/posts", json={"text": text}).status_code == 201
        broker.stop()
        broker.start(keep_data=False)  # as a Redis without persistence comes back
        wait_until(lambda: broker.subscribers == 1, what="the relay to subscribe again")
        answer = httpx.post(server.url + "/posts", json={"text": "three"})
        wait_until(lambda: "dropped post 1 ('three')" in caplog.text, what="the relay's error")
    assert answer.status_code == 500
    assert "the backplane lost its counter" in answer.json()["error"]
    assert [p["text"] for p in feed.since(0)] == ["one", "two"]


# --- real processes on a real Redis ---------------------------------------------------------


def test_backend_processes_on_redis_share_posts_and_recover_from_a_redis_restart():
    from servers.cluster import Backend
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as redis:
        extra = ["--backplane", redis.url]
        backends = [Backend(f"test-rb{n}", extra=extra).start() for n in (1, 2)]
        try:
            first = httpx.post(backends[0].url + "/posts", json={"text": "one"}).json()
            redis.restart(down_for=0.2)
            second = httpx.post(backends[1].url + "/posts", json={"text": "two"}).json()
            assert [first["id"], second["id"]] == [1, 2]  # the counter survived the restart

            def ids(backend):
                return [p["id"] for p in httpx.get(backend.url + "/posts?since=0").json()]

            wait_until(lambda: all(ids(b) == [1, 2] for b in backends), what="both posts")
        finally:
            for backend in backends:
                backend.stop()


def test_backend_processes_refuse_posts_after_redis_lost_its_counter():
    from servers.cluster import Backend
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as redis, Backend("test-rl1", extra=["--backplane", redis.url]) as b1:
        assert httpx.post(b1.url + "/posts", json={"text": "one"}).status_code == 201
        redis.restart(keep_data=False)
        answer = httpx.post(b1.url + "/posts", json={"text": "lost?"})
    assert answer.status_code == 500
    assert (
        "numbered this post 1, but this backend already holds posts up to 1"
        in (answer.json()["error"])
    )


def test_the_lessons_backplane_publishes_before_the_relays_are_back_and_waits_for_them():
    from lab.pubsub import Backplane

    backplane = Backplane.start(use_redis=False)
    backends = backplane.backends(["test-lp1", "test-lp2"])
    try:
        backplane.stop()

        async def scenario():
            early = await backplane.resume_and_publish(["early 1", "early 2"])
            await backplane.wait_for_subscribers(2)
            return early

        early = asyncio.run(scenario())
        assert [p["receivers"] for p in early] == [0, 0]
        assert backplane.broker.subscribers == 2
    finally:
        for backend in backends:
            backend.stop()


def test_a_redis_restarted_without_its_data_starts_empty_and_stop_removes_its_folder():
    from servers.redis_server import RedisServer

    needs("redis-server")
    redis = RedisServer().start()
    redis.command("SET", "kept", "1")
    redis.restart(keep_data=True)
    assert redis.command("EXISTS", "kept") == 1
    redis.restart(keep_data=False)
    assert redis.command("EXISTS", "kept") == 0
    folder = redis.folder
    redis.stop()
    redis.stop()
    assert not os.path.exists(folder)
    assert redis.command("PING") is None


def test_no_redis_or_backend_outlives_a_kernel_killed_with_sigkill(tmp_path):
    needs("redis-server")
    kernel_code = textwrap.dedent("""
        import json, time
        from lab.pubsub import Backplane
        backplane = Backplane.start()
        backends = backplane.backends(["test-k1", "test-k2"])
        print(json.dumps({"folder": backplane.redis.folder}), flush=True)
        time.sleep(60)
    """)
    kernel = subprocess.Popen(
        [sys.executable, "-c", kernel_code], stdout=subprocess.PIPE, text=True
    )
    try:
        started = json.loads(kernel.stdout.readline())
        descendants = psutil.Process(kernel.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in descendants]
        assert any("redis-server" in c for c in commands)
        assert sum("servers.backend" in c for c in commands) >= 2
        os.kill(kernel.pid, signal.SIGKILL)  # no atexit: only the tethers' pipes close
        kernel.wait()

        def all_gone():
            return not [p for p in descendants if _alive(p)]

        wait_until(all_gone, timeout=15, what="redis-server and the backends to die")
    finally:
        if kernel.poll() is None:
            kernel.kill()
        for process in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                process.kill()
    # the orphaned watchdog removes the temporary folder the kernel could not
    wait_until(lambda: not os.path.exists(started["folder"]), what="redis's folder to go")


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
