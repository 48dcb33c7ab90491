"""lab.notify_cluster: lesson 14's deployment starts, fails on purpose, comes back, and leaves
no process behind; without the real parts it runs in this kernel on one memory backplane."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import httpx
import psutil
import pytest
from support import needs

from lab.notify_cluster import RETRY_MS, KernelNotifyBackend, NotifyBackend, NotifyCluster
from servers import lifecycle
from servers.sse import EventParser
from servers.timing import scaled


@pytest.fixture(scope="module")
def cluster():
    needs("redis-server")
    needs("nginx")
    started = NotifyCluster.start(2, prefix="test-nc", name="test_notify_cluster")
    yield started
    started.stop()


@pytest.fixture
def fallback(monkeypatch):
    monkeypatch.setenv("COURSE_FALLBACK", "all")
    started = NotifyCluster.start(2, prefix="test-ncf", name="test_notify_cluster fallback")
    yield started
    started.stop()


async def stream_until_end(url: str, action) -> tuple[list[str], str, bool, int | None]:
    """Open ``url``'s broadcast stream, run ``action`` (blocking) once its headers are in,
    read until it ends: the event types, the ``X-Backend`` it named, whether it ended whole,
    its ``retry:``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url + "/channels/broadcast/events",
            headers={"Last-Event-ID": "0"},
            timeout=aiohttp.ClientTimeout(total=scaled(20)),
        ) as response,
    ):
        assert response.status == 200
        await asyncio.to_thread(action)
        parser, types, whole = EventParser(), [], True
        try:
            async for chunk in response.content.iter_any():
                types += [event.type for event in parser.feed(chunk)]
        except aiohttp.ClientPayloadError:
            whole = False
        return types, response.headers["X-Backend"], whole, parser.retry


def processes_of(cluster: NotifyCluster) -> list[psutil.Process]:
    """Every process the cluster runs: the watchdogs and what they started."""
    found = backend_processes(cluster)
    for service in (cluster.redis, cluster.front):
        watchdog = psutil.Process(service._process.pid)
        found += [watchdog, *watchdog.children(recursive=True)]
    return found


def backend_processes(cluster: NotifyCluster) -> list[psutil.Process]:
    watchdogs = [psutil.Process(b._process.pid) for b in cluster.backends]
    return watchdogs + [child for p in watchdogs for child in p.children(recursive=True)]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_cluster_says_what_runs_and_answers_through_its_front(cluster):
    assert cluster.kind.startswith("nginx in front of 2 backend processes on Redis")
    assert cluster.redis.url in cluster.kind
    named = {httpx.get(cluster.url + "/health").headers["X-Backend"] for _ in range(4)}
    assert named == {"test-nc1", "test-nc2"}  # round-robin over both, each naming itself
    assert all(isinstance(b, NotifyBackend) for b in cluster.backends)


def test_a_token_from_one_backend_is_good_on_every_other(cluster):
    token = asyncio.run(cluster.login("carol"))
    for backend in cluster.backends:  # one NOTIFY_SECRET for all
        answer = httpx.get(
            backend.url + "/channels/carol/read", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, (backend.name, answer.text)


def test_kill_cuts_the_streams_without_a_goodbye_and_start_brings_it_back_on_its_port(cluster):
    backend = cluster.backends[0]
    port = backend.port
    types, named, whole, _ = asyncio.run(stream_until_end(backend.url, backend.kill))
    assert (named, whole, "shutdown" in types) == (backend.name, False, False)
    assert not backend.running
    backend.start()
    answer = httpx.get(backend.url + "/health")
    assert (backend.port, answer.headers["X-Backend"]) == (port, backend.name)


def test_stop_is_sigterm_every_stream_gets_a_shutdown_event_and_a_whole_end(cluster):
    backend = cluster.backends[1]
    types, _, whole, retry = asyncio.run(stream_until_end(backend.url, backend.stop))
    assert (types[-1:], whole, retry) == (["shutdown"], True, RETRY_MS)
    backend.start()


def test_ids_go_on_across_a_redis_restart_and_a_full_restart(cluster):
    token = asyncio.run(cluster.login("dave"))
    first = asyncio.run(cluster.post("dave", "one", token))["id"]
    cluster.restart_redis(down_for=0.2)
    old = backend_processes(cluster)
    cluster.restart_all()
    assert not any(alive(p) for p in old)  # every backend is a new process
    after = asyncio.run(cluster.post("dave", "two", token))["id"]
    assert after == first + 1  # the broker kept its counter: no id is used twice
    token_still_good = httpx.get(
        cluster.url + "/channels/dave/read", headers={"Authorization": f"Bearer {token}"}
    )
    assert token_still_good.json()["unread"] == after


def test_starting_again_stops_the_earlier_cluster_and_stop_leaves_no_process():
    needs("redis-server")
    first = NotifyCluster.start(1, prefix="test-nca", name="test_notify_cluster again")
    processes = processes_of(first)
    second = NotifyCluster.start(1, prefix="test-ncb", name="test_notify_cluster again")
    try:
        assert not any(alive(p) for p in processes)
        assert first not in lifecycle.kept(NotifyCluster) and second in lifecycle.kept()
        processes = processes_of(second)
    finally:
        second.stop()
    assert not any(alive(p) for p in processes)
    assert second not in lifecycle.kept(NotifyCluster)


def test_the_fallback_serves_the_backends_in_this_kernel_on_one_memory_backplane(fallback):
    assert "Python TCP balancer (the fallback" in fallback.kind
    assert "served in this kernel on one in-process backplane, not Redis" in fallback.kind
    assert fallback.redis is None
    assert all(isinstance(b, KernelNotifyBackend) for b in fallback.backends)
    one, other = fallback.backends
    token = asyncio.run(fallback.login("erin"))
    post = asyncio.run(fallback.post("erin", "hello", token))
    held = httpx.get(  # posted through the front, held by both: one backplane
        other.url + "/channels/erin/read", headers={"Authorization": f"Bearer {token}"}
    )
    assert held.json()["unread"] == post["id"]
    types, _, whole, _ = asyncio.run(stream_until_end(one.url, one.kill))
    assert (whole, "shutdown" in types) == (False, False)
    one.start()
    fallback.restart_redis(down_for=0.1)
    fallback.restart_all()
    assert asyncio.run(fallback.post("erin", "again", token))["id"] == post["id"] + 1


HANDSHAKE = """GET /channels/broadcast/ws HTTP/1.1
Host: {host}
Origin: {origin}
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13"""


@pytest.mark.parametrize(
    "host, origin, status",
    [
        ("hub.example", "http://hub.example", b"101"),  # a JupyterHub's page, proxied
        ("hub.example", "http://evil.example", b"403"),  # another site's page
    ],
)
def test_through_nginx_the_page_of_a_proxy_in_front_may_open_a_websocket(
    cluster, host, origin, status
):
    """The front passes the browser's Host on (``LOCATION``), so a backend's Origin check sees
    the proxy's page as Origin == Host: with nginx's default Host (``backend``) the first case
    is refused with 403, and lesson 14's page cannot mark posts read behind a JupyterHub."""
    port = int(cluster.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as sock:
        sock.sendall(
            HANDSHAKE.format(host=host, origin=origin).replace("\n", "\r\n").encode() + b"\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.split(b"\r\n")[0].split()[1] == status, answer[:300]
