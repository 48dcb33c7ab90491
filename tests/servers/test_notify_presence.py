"""Presence in the notification service (lesson 14): the stores, the reference ``Presence``,
and ``GET /channels/NAME/presence`` across backends, in process and on a real Redis.

The peers are independent clients (httpx, httpx-sse, the ``websockets`` client); two apps on
one backplane and one presence store play two backends."""

from __future__ import annotations

import contextlib
import signal
import time

import httpx
import pytest
from httpx_sse import connect_sse
from notify_support import login, post, service
from support import needs, wait_until
from websockets.sync.client import connect

from servers import runtime, serve
from servers.backplane import BackplaneUnavailable
from servers.notify import MemoryBrokers, RedisBrokers, Signer, make_app
from servers.notify.presence import (
    Entry,
    MemoryPresenceStore,
    Presence,
    RedisPresenceStore,
    store_for,
)
from servers.notify.roster import PresenceSetup
from servers.timing import scaled

EXPIRED_WITHIN = 1.5
"""A dead backend's users must be gone within 1.5 ttl (``wait_until`` scales it as ttl is): its
entries expire at most one ttl after its last write, and the service's sweep removes only
entries expired a whole ttl ago, so a presence that ignored expiry would still list them."""


@pytest.fixture(params=["memory", "redis"])
def place(request):
    """``(store, brokers)`` of one kind, shared by every app of the test; ``.redis`` too."""
    if request.param == "memory":
        yield MemoryPresenceStore(), MemoryBrokers(), None
        return
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as redis:
        store = RedisPresenceStore(redis.url)
        try:
            yield store, RedisBrokers(redis.url), redis
        finally:
            runtime.run(store.close(), timeout=10)


def run(coroutine):
    return runtime.run(coroutine, timeout=scaled(10))


def test_a_store_keeps_puts_overwrites_and_drops_entries_per_channel(place):
    store, _, _ = place
    one, other = store.channel("broadcast"), store.channel("alice")
    later = time.time() + 30
    run(one.put("b1:alice", "alice", 1, later))
    run(one.put("b1:alice", "alice", 2, later))
    run(one.put("b2:bob", "bob", 1, later))
    run(one.drop("b2:bob"))
    run(one.drop("never-there"))
    assert run(one.entries()) == {"b1:alice": Entry("alice", 2, later)}
    assert run(other.entries()) == {}


def test_a_sweep_removes_only_entries_that_expired_before_its_time(place):
    store, _, _ = place
    entries, now = store.channel("broadcast"), time.time()
    run(entries.put("b1:new", "new", 1, now + 100))
    run(entries.put("b1:old", "old", 1, now - 100))
    assert run(entries.sweep(now - 50)) == 1
    assert set(run(entries.entries())) == {"b1:new"}


def test_a_redis_presence_hash_expires_after_its_newest_entry_and_never_sooner():
    from servers.redis_server import RedisServer

    needs("redis-server")
    with RedisServer() as redis:
        store = store_for(RedisBrokers(redis.url))
        entries, now = store.channel("broadcast"), time.time()
        run(entries.put("b1:alice", "alice", 1, now + 100))
        first = int(redis.command("PTTL", "notify.presence:broadcast"))
        run(entries.put("b2:bob", "bob", 1, now + 10))  # an earlier expiry shortens nothing
        second = int(redis.command("PTTL", "notify.presence:broadcast"))
        run(store.close())
    assert 100_000 < first <= 160_000 and second > 100_000, (first, second)


def test_apps_sharing_memory_brokers_share_one_presence_store():
    brokers = MemoryBrokers()
    assert store_for(brokers) is store_for(brokers)
    assert store_for(brokers) is not store_for(MemoryBrokers())


def test_the_reference_counts_tabs_per_backend_and_lists_each_user_once():
    store = MemoryPresenceStore().channel("broadcast")
    b1, b2 = Presence(store, "b1", 30), Presence(store, "b2", 30)
    run(b1.arrive("alice"))
    run(b1.arrive("alice"))
    run(b2.arrive("alice"))
    run(b1.leave("alice"))
    assert run(b2.online()) == {"alice"}
    run(b2.leave("alice"))  # b1 still holds one tab
    assert run(b1.online()) == {"alice"}
    run(b1.leave("alice"))
    assert run(b2.online()) == set() and run(store.entries()) == {}


def test_the_references_beat_moves_expiries_forward_and_an_unrefreshed_entry_expires():
    store = MemoryPresenceStore().channel("broadcast")
    b1, b2 = Presence(store, "b1", 0.3), Presence(store, "b2", 0.3)
    run(b1.arrive("alice"))
    run(b2.arrive("bob"))
    before = run(store.entries())["b1:alice"].expires
    time.sleep(0.05)
    run(b1.beat())
    assert run(store.entries())["b1:alice"].expires > before

    def b1_beats_and_only_alice_is_left() -> bool:
        run(b1.beat())
        return run(b1.online()) == {"alice"}

    wait_until(b1_beats_and_only_alice_is_left, what="bob to expire")
    assert run(store.entries())["b2:bob"].count == 1  # still held: b2 merely stopped beating


@contextlib.contextmanager
def backends(store, brokers, *, ttl: float = 30.0, kind=Presence):
    """Two service apps on ``brokers`` and ``store``: their URLs."""
    signer = Signer(b"shared")
    apps = [
        make_app(brokers=brokers, signer=signer, presence=PresenceSetup(kind, store, ttl, f"b{n}"))
        for n in (1, 2)
    ]
    with (
        serve(apps[0], name="test-presence-b1") as b1,
        serve(apps[1], name="test-presence-b2") as b2,
    ):
        yield b1.url, b2.url


def online(url: str, channel: str = "broadcast", token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/channels/{channel}/presence", headers=headers, timeout=scaled(10))
    assert answer.status_code == 200, answer.text
    assert answer.json()["channel"] == channel
    return answer.json()["online"]


@contextlib.contextmanager
def stream(url: str, token: str | None, channel: str = "broadcast"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        httpx.Client(timeout=scaled(10)) as client,
        connect_sse(client, "GET", f"{url}/channels/{channel}/events", headers=headers) as source,
    ):
        assert source.response.status_code == 200
        yield source


def test_a_logged_in_stream_on_one_backend_is_listed_by_the_other_until_it_closes(place):
    store, brokers, _ = place
    with backends(store, brokers) as (b1, b2):
        alice = login(b1, "alice")
        with stream(b1, alice), stream(b2, None):  # the anonymous reader counts as no one
            assert online(b2) == ["alice"] and online(b1) == ["alice"]
        wait_until(lambda: online(b2) == [], what="alice to leave")


def test_a_logged_in_websocket_counts_and_a_stale_token_reads_broadcast_as_no_one(place):
    store, brokers, _ = place
    with backends(store, brokers) as (b1, b2):
        bob = login(b2, "bob")
        address = b2.replace("http", "ws") + "/channels/broadcast/ws"
        with connect(address, additional_headers={"Authorization": f"Bearer {bob}"}) as ws:
            ws.recv(timeout=scaled(10))  # the read-mark greeting
            with stream(b1, "not-a-token"):
                assert online(b1) == ["bob"]
        wait_until(lambda: online(b1) == [], what="bob to leave")


def test_the_heartbeat_keeps_a_connected_user_listed_and_a_dead_backends_users_expire(place):
    store, brokers, _ = place

    class Cut:  # b1's store, which stops reaching the shared one once cut (a killed process)
        cut = False

        def channel(self, name):
            inner = store.channel(name)
            outer = self

            class Entries:
                async def put(self, *args):
                    if not outer.cut:
                        await inner.put(*args)

                async def drop(self, key):
                    if not outer.cut:
                        await inner.drop(key)

                async def entries(self):
                    return await inner.entries()

                async def sweep(self, before):
                    return await inner.sweep(before)

            return Entries()

    b1_store, signer, ttl = Cut(), Signer(b"shared"), scaled(0.6)
    apps = [
        make_app(brokers=brokers, signer=signer, presence=PresenceSetup(Presence, s, ttl, name))
        for s, name in ((b1_store, "b1"), (store, "b2"))
    ]
    with (
        serve(apps[0], name="test-presence-d1") as b1,
        serve(apps[1], name="test-presence-d2") as b2,
    ):
        carol = login(b1.url, "carol")
        with stream(b1.url, carol):
            time.sleep(3 * ttl)  # beyond the ttl: only the heartbeat keeps carol listed
            assert online(b2.url) == ["carol"]
            b1_store.cut = True  # no refresh, and no leave, will reach the store again
            wait_until(
                lambda: online(b2.url) == [], timeout=EXPIRED_WITHIN * 0.6, what="carol to expire"
            )


def test_presence_of_a_private_channel_is_its_owners_alone():
    with serve(make_app(), name="test-presence-private") as server:
        alice, bob = login(server.url, "alice"), login(server.url, "bob")
        with stream(server.url, alice, "alice"):
            assert online(server.url, "alice", alice) == ["alice"]
            refused = httpx.get(
                f"{server.url}/channels/alice/presence", headers={"Authorization": f"Bearer {bob}"}
            )
    assert refused.status_code == 403


def test_a_failing_presence_is_logged_and_the_stream_goes_on(caplog):
    class Broken(Presence):
        async def arrive(self, user):
            raise BackplaneUnavailable("the presence store is down")

    with backends(MemoryPresenceStore(), MemoryBrokers(), kind=Broken) as (b1, _):
        alice = login(b1, "alice")
        with stream(b1, alice) as source:
            post(b1, "broadcast", "still delivered", alice)
            events = (e for e in source.iter_sse() if e.event == "message" and e.data)
            assert "still delivered" in next(events).data
    assert "presence arrive('alice',) in 'broadcast' failed" in caplog.text


def options(redis_url: str, ttl: float) -> list[str]:
    return ["--redis", redis_url, "--presence-ttl", str(ttl)]


def test_a_killed_backend_process_users_drop_out_within_the_ttl_on_redis():
    from servers.redis_server import RedisServer

    needs("redis-server")
    ttl = scaled(1.0)
    with (
        RedisServer() as redis,
        service(*options(redis.url, ttl), secret="shared by both") as (p1, first),
        service(*options(redis.url, ttl), secret="shared by both") as (p2, _),
    ):
        alice, bob = login(p1, "alice"), login(p2, "bob")
        with stream(p1, alice), stream(p2, bob):
            time.sleep(2 * ttl)  # the heartbeats keep both listed beyond the ttl
            assert online(p2) == ["alice", "bob"] and online(p1) == ["alice", "bob"]
            first.send_signal(signal.SIGKILL)  # no leave, no heartbeat: alice's entry stays
            wait_until(
                lambda: online(p2) == ["bob"], timeout=EXPIRED_WITHIN * 1.0, what="alice to expire"
            )
