"""servers.backplane.feed, servers.redis_server: backends on a backplane, in this kernel and as
processes, share every post with the backplane's ids; failures say so at the HTTP edge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import httpx
import psutil
import pytest
from support import needs, wait_until

from lab.pubsub import relay_status
from servers import serve
from servers.backend import make_backend_app
from servers.backplane import (
    LocalPublish,
    MemoryBroker,
    attach,
)
from servers.timing import scaled

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


def test_a_websocket_post_while_the_backplane_is_down_gets_an_error_message_that_says_so():
    import websockets.sync.client

    broker = MemoryBroker()
    app = make_backend_app("test-ws-down")
    attach(app, broker)
    server = serve(app, name="test-ws-down")
    with server, websockets.sync.client.connect(server.url.replace("http", "ws") + "/ws") as ws:
        broker.stop()
        ws.send(json.dumps({"text": "lost?"}))
        answer = json.loads(ws.recv(timeout=scaled(5)))
        broker.start()
    assert "the backplane is unavailable; the post may not have been published" in answer["error"]


def test_a_backend_says_whether_its_relay_is_on_the_backplane_and_counts_its_subscriptions():
    broker = MemoryBroker()
    app = make_backend_app("test-status")
    attach(app, broker, retry=0.05)
    with serve(app, name="test-status") as server:
        assert relay_status(server) == {"subscribed": True, "subscriptions": 1}  # from the start
        broker.stop()
        wait_until(lambda: not relay_status(server)["subscribed"], what="the relay to be cut off")
        broker.start()
        wait_until(
            lambda: relay_status(server) == {"subscribed": True, "subscriptions": 2},
            what="the relay to subscribe again",
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
            before = [relay_status(b)["subscriptions"] for b in backends]
            redis.restart(down_for=0.2)
            wait_until(
                lambda: all(
                    relay_status(b) == {"subscribed": True, "subscriptions": n + 1}
                    for b, n in zip(backends, before, strict=True)
                ),
                what="both backends' relays to be back on Redis",
            )
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


def test_starting_the_lessons_backplane_again_shuts_down_the_one_before():
    from lab.pubsub import Backplane

    needs("redis-server")
    first = Backplane.start()
    second = Backplane.start()  # a re-run cell
    try:
        assert not first.redis.running
        assert second.redis.running
    finally:
        second.shutdown()
    assert not second.redis.running


def test_a_replayed_post_is_checked_as_a_new_one_against_what_this_backend_shows():
    """Lesson 14's ``submit_once``: the broker's counter went back, so the first try got
    ``IdsWentBack``; the retry, replayed under its key, must not now be told it worked."""
    from servers.backplane import BackplaneFeed, IdsWentBack, MemoryBroker

    async def scenario():
        feed = BackplaneFeed(MemoryBroker())  # its counter starts at 1 again
        for n in (1, 2, 3):
            feed.add({"id": n, "text": f"before the reset {n}", "ts": 0.0})
        with pytest.raises(IdsWentBack, match="numbered this post 1"):
            await feed.submit_once("new", "k")
        with pytest.raises(IdsWentBack, match="idempotency key names post 1"):
            await feed.submit_once("new", "k")

    asyncio.run(scenario())


def test_a_replayed_post_is_answered_once_this_backend_holds_it():
    """Read-your-writes holds for a retry too: one that lands on a backend whose relay has not
    brought the post yet is answered once it has."""
    from servers.backplane import BackplaneFeed, MemoryBroker

    async def scenario():
        broker = MemoryBroker()
        feed = BackplaneFeed(broker)
        taken, _ = await broker.publish_once("hi", "k")  # the first try, on another backend
        asyncio.get_running_loop().call_later(0.3, feed.add, taken)  # this relay, late
        post, replayed = await feed.submit_once("hi", "k")
        return post, replayed, taken, feed.last_id

    post, replayed, taken, held = asyncio.run(scenario())
    assert (post, replayed, held) == (taken, True, taken["id"])
