"""The notification service deployed: backends, Redis and a front (lesson 14).

``NotifyCluster.start(3)`` runs lesson 14's deployment: a real ``redis-server``
(``servers.redis_server``, found as lesson 10's ``lab.pubsub.Backplane`` finds it), three
backend processes ``python -m servers.notify --name n1 --port P --redis URL`` tied to the
kernel (``servers.tether``, as lesson 09's ``servers.cluster.Backend``), and in front of them
lesson 09's balancer (``lab.front.front``: nginx, or the labelled Python fallback).
The backends share one ``NOTIFY_SECRET``, which the cluster puts in this kernel's environment
for every process it starts (as a deploy's environment gives one to each process): a token
issued by one backend is good on all. Without ``redis-server`` (or with
``COURSE_FALLBACK=redis``) the backends are served in this kernel (``servers.serve``) on one
shared ``MemoryBrokers()``: an in-process backplane cannot link processes. ``.kind`` says
which balancer and which backplane ran. In CI a missing part is an error
(``servers.system.real_part``).

The failures lesson 14's drill (``lab.drill``) inflicts: ``backend.kill()`` (SIGKILL: its
streams just break), ``backend.stop()`` (SIGTERM: each stream gets a ``shutdown`` event),
``backend.start()`` (again, same port), ``restart_redis(down_for=...)`` (data kept) and
``restart_all()``. Starting a cluster again stops the one an earlier run of the cell started;
``stop()`` (or the interpreter's exit) stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil

from lab.front import PROXY, front
from servers import lifecycle, serve
from servers.limits import raise_open_file_limit
from servers.notify import MemoryBrokers, Signer, make_app
from servers.notify.__main__ import name_responses
from servers.notify.app import SERVICE
from servers.runtime import free_port, run
from servers.system import real_part
from servers.tether import Service
from servers.timing import scaled

SECRET_VARIABLE = "NOTIFY_SECRET"
RETRY_MS = 500
"""The ``retry:`` the cluster's backends send: a cut-off client is back within half a second."""


class NotifyBackend(Service):
    """One ``python -m servers.notify`` process on the Redis at ``redis_url``."""

    KILL, STOP = "SIGKILL", "SIGTERM"
    """What ``kill()`` and ``stop()`` do, in a word."""

    def __init__(self, name: str, redis_url: str, *, history: int, retry_ms: int) -> None:
        super().__init__(free_port(), name)
        self.redis_url, self.history, self.retry_ms = redis_url, history, retry_ms

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NotifyBackend:
        """Start the process (on the same port as before) and wait until ``/health`` answers
        with this backend's name."""
        command = [sys.executable, "-m", "servers.notify", "--name", self.name]
        command += ["--port", str(self.port), "--redis", self.redis_url]
        command += ["--history", str(self.history), "--retry", str(self.retry_ms)]
        return self._launch(
            command,
            lambda: _answering(self.url, self.name),
            what=f"notification backend {self.name}",
            timeout=scaled(20),
        )

    def kill(self) -> None:
        """SIGKILL the service, as a crash or the OOM killer would: no ``shutdown`` event, its
        connections just break. (``stop()`` is the clean SIGTERM.)"""
        if self.running:
            for child in psutil.Process(self._process.pid).children():
                os.killpg(child.pid, signal.SIGKILL)  # the service leads its own group
        self.stop()

    def __repr__(self) -> str:
        return f"<NotifyBackend {self.name} {self.url} {'running' if self.running else 'stopped'}>"


class KernelNotifyBackend:
    """A backend served in this kernel on shared ``MemoryBrokers`` (the fallback), with
    ``NotifyBackend``'s interface. Its ``kill()`` cuts every SSE stream (no ``shutdown``
    event) before the server stops; a restart keeps the port."""

    KILL, STOP = "cut the streams of", "stop"

    def __init__(self, name: str, brokers: MemoryBrokers, signer: Signer, *, retry_ms: int) -> None:
        self.name, self.brokers, self.signer, self.retry_ms = name, brokers, signer, retry_ms
        self.port, self._server = 0, None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def start(self) -> KernelNotifyBackend:
        app = make_app(brokers=self.brokers, signer=self.signer, retry_ms=self.retry_ms)
        name_responses(app, self.name)
        self._server = serve(app, name=f"lesson 14 {self.name}", port=self.port)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def kill(self) -> None:
        if self.running:
            run(_cut_streams(self._server.app))
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<KernelNotifyBackend {self.name} {self.url} {state}>"


async def _cut_streams(app) -> None:
    for request in list(app[SERVICE].streams.values()):
        if request.transport is not None:
            request.transport.abort()


class NotifyCluster:
    """Lesson 14's deployment (see the module's docstring): ``url`` (the front's), ``kind``,
    ``backends``, ``redis`` (None on the fallback), ``history``, ``retry_ms``."""

    def __init__(self, history: int) -> None:
        self.history = history
        self.redis = None
        self.brokers: MemoryBrokers | None = None
        self.backends: list = []
        self.front = None
        self.redis_note = ""

    @classmethod
    def start(
        cls,
        backends: int = 3,
        *,
        history: int = 100,
        retry_ms: int = RETRY_MS,
        prefix: str = "n",
        name: str = "lesson 14's cluster",
    ) -> NotifyCluster:
        """``backends`` backends named ``n1``…, each channel keeping ``history`` posts."""
        from servers.redis_server import RedisServer

        self = cls(history)
        self.retry_ms = retry_ms
        lifecycle.keep(self, name=name)  # stops the cluster an earlier run started
        raise_open_file_limit()  # inherited by Redis, nginx and the backends (lesson 14's SLO)
        try:
            redis = real_part("redis-server")  # in CI a missing one is an error, here
            names = [f"{prefix}{n}" for n in range(1, backends + 1)]
            if redis.real:
                self.redis = RedisServer(executable=redis.path).start()
                os.environ.setdefault(SECRET_VARIABLE, secrets.token_urlsafe(32))
                self.backends = [
                    NotifyBackend(n, self.redis.url, history=history, retry_ms=retry_ms)
                    for n in names
                ]
            else:
                self.redis_note = redis.note
                self.brokers = MemoryBrokers(history=history)
                signer = Signer(secrets.token_bytes(32))
                self.backends = [
                    KernelNotifyBackend(n, self.brokers, signer, retry_ms=retry_ms) for n in names
                ]
            _each(lambda backend: backend.start(), self.backends)
            self.front = front(_upstreams(self.backends), location=LOCATION, name=name)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        return self.front.url

    @property
    def kind(self) -> str:
        balancer = "nginx" if self.front.kind == "nginx" else f"the {self.front.kind}"
        count = len(self.backends)
        if self.redis is not None:
            return (
                f"{balancer} in front of {count} backend processes on Redis "
                f"({self.redis.executable}) at {self.redis.url}"
            )
        return (
            f"{balancer} in front of {count} backends served in this kernel on one in-process "
            f"backplane, not Redis ({self.redis_note}): an in-process backplane cannot link "
            "processes"
        )

    def restart_redis(self, *, down_for: float = 0.5) -> None:
        """Take the backplane down for ``down_for`` seconds and bring it back with its data
        (ids and histories), as after a clean shutdown (``SHUTDOWN SAVE``); a crash or a failover
        to an asynchronous replica may lose the last writes, which this does not play."""
        if self.redis is not None:
            self.redis.restart(keep_data=True, down_for=down_for)
            return
        brokers = list(self.brokers._brokers.values())  # every channel's MemoryBroker
        for broker in brokers:
            broker.stop()
        time.sleep(down_for)
        for broker in brokers:
            broker.start(keep_data=True)

    def restart_all(self) -> None:
        """A full restart: every backend gets SIGTERM (its streams a ``shutdown`` event), then
        every one starts again on its port."""
        _each(lambda backend: backend.stop(), self.backends)
        _each(lambda backend: backend.start(), self.backends)

    async def login(self, user: str) -> str:
        """A token for ``user`` from ``POST /login`` through the front."""
        async with httpx.AsyncClient(timeout=scaled(10)) as http:
            answer = await http.post(f"{self.url}/login", json={"user": user})
        answer.raise_for_status()
        return answer.json()["token"]

    async def post(self, channel: str, text: str, token: str) -> dict:
        """Post ``text`` to ``channel`` through the front: the post (``HTTPStatusError``
        unless it was taken, 201)."""
        async with httpx.AsyncClient(timeout=scaled(10)) as http:
            answer = await http.post(
                f"{self.url}/channels/{channel}/posts",
                json={"text": text},
                headers={"Authorization": f"Bearer {token}"},
            )
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        """Stop the front, every backend and Redis; safe twice."""
        if self.front is not None:
            self.front.stop()
        _each(lambda backend: backend.stop(), self.backends)
        if self.redis is not None:
            self.redis.stop()
        lifecycle.forget(self)

    def __repr__(self) -> str:
        return f"<NotifyCluster {self.url if self.front else '(no front)'}: {len(self.backends)}>"


LOCATION = PROXY.replace(
    "    proxy_http_version 1.1;\n",
    "    proxy_http_version 1.1;\n    proxy_set_header Host $http_host;\n",
)
"""Lesson 09's location block, passing the browser's ``Host`` on: the backends' ``Origin``
check (lesson 12) allows a page whose ``Origin`` equals the request's ``Host`` (the page of a
proxy in front, such as a JupyterHub's jupyter-server-proxy), and nginx's default ``Host`` is
the upstream's name (``backend``), which no page has."""


def _upstreams(backends: list) -> list[str]:
    """The backends' addresses for the front. For nginx each with ``max_fails=0``: by default
    (``max_fails=1 fail_timeout=10s``, nginx's upstream module docs) one failed connection
    marks a backend down for 10 s, so after a full restart every backend stays refused for 10
    s though it is back ("no live upstreams"). Here a refused connection costs microseconds:
    nginx may try a dead backend each time and move on to the next (``proxy_next_upstream``)."""
    suffix = " max_fails=0" if real_part("nginx").real else ""  # the fallback takes bare ones
    return [backend.address + suffix for backend in backends]


def _each(action, backends: list) -> None:
    """``action(backend)`` for every backend at once (each start waits for its process)."""
    with ThreadPoolExecutor(max_workers=max(1, len(backends))) as pool:
        list(pool.map(action, backends))


def _answering(url: str, name: str) -> bool:
    """Whether this backend — not some other program on its port — answers ``/health``."""
    try:
        answer = httpx.get(url + "/health", timeout=0.5)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.headers.get("X-Backend") == name
