"""Backends on a backplane, and clients spread over them (introduced in lesson 10).

``Backplane.start()`` is a real ``redis-server`` (``servers.redis_server``) when one is
installed, else an in-process ``MemoryBroker`` — said plainly in ``.kind``. In CI a missing
``redis-server`` is an error. ``backplane.backends(["b1", "b2"])`` starts feed backends joined
to it: processes (``python -m servers.backend --backplane redis://...``) on Redis, in-kernel
servers on the ``MemoryBroker`` (an in-process broker cannot link processes).
``backplane.broker`` publishes from a cell, as any other service on the backplane could.
``backplane.resume_and_publish(texts)`` brings a stopped backplane back and publishes before
any relay is back (PUBLISH's answer says so); ``wait_for_subscribers(n)`` waits for the relays.

``async with Listeners(backends, per_backend=3) as clients:`` keeps SSE clients
(``lab.clients.sse_listen``) on every backend, in this kernel, until the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp
import httpx

from lab.clients import ClientLog, sse_listen
from servers import lifecycle, serve
from servers.backend import make_backend_app
from servers.backplane import Broker, MemoryBroker, RedisBroker, attach
from servers.cluster import Backend
from servers.system import real_part
from servers.timing import scaled


class Backplane:
    """Redis (a process, with a broker for this kernel) or the in-process fallback.

    One at a time: ``start`` keeps it in ``servers.lifecycle``, so a re-run cell first shuts
    down the backplane an earlier run started, and the interpreter's exit shuts down the last.
    """

    def __init__(self) -> None:
        self.redis = None
        self.broker: Broker | None = None
        self._kept = _ShutDownOnStop(self)
        self._backends: list = []
        self._subscriptions: dict[str, int] = {}  # each backend's relay's, when it went down

    @classmethod
    def start(cls, *, use_redis: bool | None = None) -> Backplane:
        """Redis if installed (``use_redis=False`` forces the fallback)."""
        from servers.redis_server import RedisServer

        self = cls()
        lifecycle.keep(self._kept, name="lesson 10's backplane")  # shuts down an earlier one
        found = real_part("redis-server").path  # in CI a missing one is an error, here
        if found and use_redis is not False:
            self.redis = RedisServer(executable=found).start()
            self.broker = RedisBroker(self.redis.url)
        else:
            self.broker = MemoryBroker()
        return self

    @property
    def kind(self) -> str:
        if self.redis:
            return f"Redis ({self.redis.executable}) at {self.redis.url}"
        return "the in-process MemoryBroker (no redis-server here): backends run in this kernel"

    def backends(self, names: list[str], *, replay: bool = True) -> list:
        """Feed backends on this backplane, each answering, each with ``.name`` and ``.url``."""
        if self.redis:
            extra = ["--backplane", self.redis.url] + ([] if replay else ["--no-replay"])
            started = [Backend(name, extra=extra).start() for name in names]
        else:
            started = [KernelBackend(name, self.broker, replay=replay).start() for name in names]
        self._backends += started
        return started

    def stop(self) -> None:
        """The backplane goes down (Redis saves its data first: ``start`` brings it back)."""
        self._subscriptions = {}
        for backend in self._backends:  # those still running
            with contextlib.suppress(httpx.HTTPError):
                self._subscriptions[backend.url] = relay_status(backend)["subscriptions"]
        if self.redis:
            self.redis.stop(keep_data=True)
        else:
            self.broker.stop()

    def resume(self) -> None:
        """The backplane is back, with its data: relays must subscribe again."""
        if self.redis:
            self.redis.start()
        else:
            self.broker.start()

    def shutdown(self) -> None:
        """Stop it for good (twice is fine)."""
        lifecycle.forget(self._kept)
        if self.redis:
            self.redis.stop()

    async def resume_and_publish(self, texts: list[str], *, attempts: int = 5) -> list[dict]:
        """Bring the stopped backplane back and publish ``texts`` at once, before the relays
        have subscribed again.

        Each post comes back with ``receivers``: how many subscriptions PUBLISH reached (0: no
        relay was back). Publishing stops after the first post that reached any; if the first
        one did (a relay was quicker than this cell), the backplane goes down and comes back
        again, up to ``attempts`` times, so at least one post reached nobody.
        """
        posts: list[dict] = []
        for _ in range(attempts):
            self.resume()
            for text in texts:
                post, receivers = await self.broker.publish_counting(text)
                posts.append({**post, "receivers": receivers})
                if receivers:
                    break
            if any(p["receivers"] == 0 for p in posts):
                return posts
            self.stop()
        raise RuntimeError(f"a relay was back before the first post {attempts} times in a row")

    async def wait_for_subscribers(self, count: int, *, timeout: float = 10.0) -> None:
        """Wait until ``count`` relays are subscribed (Redis: ``PUBSUB NUMSUB``) and, after
        ``stop()``, until every backend it started says its relay subscribed again and caught
        up (``GET /backend``): from then on a ``POST`` to any of them goes through."""
        deadline = time.monotonic() + scaled(timeout)
        while (now := await self.broker.count_subscribers()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{now} of {count} relays subscribed within {scaled(timeout):g} s"
                )
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(timeout=scaled(5)) as http:
            for url, before in self._subscriptions.items():
                while not _back((await http.get(url + "/backend")).json()["relay"], before):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the relay of {url} was not back on the backplane")
                    await asyncio.sleep(0.02)


def relay_status(backend) -> dict:
    """Where a backend's relay is, as its ``GET /backend`` says: ``{"subscribed": bool,
    "subscriptions": n}`` (n goes up each time it subscribes again)."""
    return httpx.get(backend.url + "/backend", timeout=scaled(5)).json()["relay"]


def _back(relay: dict, subscriptions_before: int) -> bool:
    return relay["subscribed"] and relay["subscriptions"] > subscriptions_before


class _ShutDownOnStop:
    """A backplane as ``servers.lifecycle`` keeps it: its ``stop()`` is the backplane's
    ``shutdown()`` (the backplane's own ``stop()`` is an outage it comes back from)."""

    def __init__(self, backplane: Backplane) -> None:
        self.backplane = backplane

    def stop(self) -> None:
        self.backplane.shutdown()


class KernelBackend:
    """A backend served in this kernel on a ``MemoryBroker``, with ``Backend``'s interface:
    ``name``, ``url``, ``start()``, ``stop()`` (a restart keeps the port, not the feed)."""

    def __init__(self, name: str, broker: MemoryBroker, *, replay: bool = True) -> None:
        self.name, self.broker, self.replay = name, broker, replay
        self.port, self._server = 0, None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> KernelBackend:
        app = make_backend_app(self.name)
        attach(app, self.broker, replay=self.replay)
        self._server = serve(app, name=self.name, port=self.port)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __repr__(self) -> str:
        return f"<KernelBackend {self.name} {self.url}>"


@dataclass
class Listener:
    backend: str
    log: ClientLog = field(default_factory=ClientLog)

    @property
    def ids(self) -> list[int]:
        return [post_id for post_id, _, _ in self.log.arrivals]


class Listeners:
    """``per_backend`` SSE clients on each backend, reading in this kernel's loop."""

    def __init__(self, backends: list, *, per_backend: int = 3) -> None:
        self.backends, self.per_backend = backends, per_backend
        self.clients = [Listener(b.name) for b in backends for _ in range(per_backend)]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Listeners:
        self._session = aiohttp.ClientSession()
        urls = {b.name: b.url for b in self.backends}
        for client in self.clients:
            stream = sse_listen(
                self._session, urls[client.backend], stop=self._stop, log=client.log,
                reconnect_delay=0.2,
            )  # fmt: skip
            self._tasks.append(asyncio.ensure_future(stream))
        await self._wait_until_parked()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._session.close()

    async def _wait_until_parked(self) -> None:
        deadline = time.monotonic() + scaled(10)
        async with httpx.AsyncClient() as http:
            for backend in self.backends:
                while (await http.get(backend.url + "/backend")).json()[
                    "waiting"
                ] < self.per_backend:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the clients of {backend.name} did not connect")
                    await asyncio.sleep(0.01)

    async def settle(
        self,
        expected: list[int] | dict[str, list[int]],
        *,
        timeout: float = 5.0,
        quiet: float = 0.3,
    ) -> None:
        """Wait until every client holds every id in ``expected`` — or, given ``{backend name:
        ids}``, until each client of those backends holds its backend's ids — or ``timeout``
        runs out; then ``quiet`` seconds more, to catch copies that should not come."""
        if not isinstance(expected, dict):
            expected = {c.backend: expected for c in self.clients}
        waited = [(c, set(expected[c.backend])) for c in self.clients if c.backend in expected]
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline and not all(ids <= set(c.ids) for c, ids in waited):
            await asyncio.sleep(0.01)
        await asyncio.sleep(quiet)

    def received_ids(self) -> list[list[int]]:
        return [c.ids for c in self.clients]

    def by_backend(self) -> dict[str, list[list[int]]]:
        grouped: dict[str, list[list[int]]] = {}
        for c in self.clients:
            grouped.setdefault(c.backend, []).append(c.ids)
        return grouped

    def latencies(self, ids: list[int] | None = None) -> list[float]:
        """Seconds from the backend taking the post to a client reading it, for every post
        (of ``ids``, when given) at every client."""
        return [
            received - published
            for c in self.clients
            for post_id, published, received in c.log.arrivals
            if ids is None or post_id in ids
        ]


async def post_to(backends: list, texts: list[str], *, rate: float | None = None) -> list[dict]:
    """POST each text to the backends in turn (``rate`` posts a second, else at once);
    the posts the backends answered with, each with ``backend`` set to who took it."""
    posts = []
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        for n, text in enumerate(texts):
            backend = backends[n % len(backends)]
            answer = await http.post(backend.url + "/posts", json={"text": text})
            answer.raise_for_status()
            posts.append({**answer.json(), "backend": answer.headers["X-Backend"]})
            if rate:
                await asyncio.sleep(1 / rate)
    return posts


async def try_post(backend, text: str) -> tuple[int, dict]:
    """POST one text; the status and the JSON answer, whatever they are."""
    async with httpx.AsyncClient(timeout=scaled(10)) as http:
        answer = await http.post(backend.url + "/posts", json={"text": text})
    return answer.status_code, answer.json()


def stop_all(backends: list) -> None:
    for backend in backends:
        with contextlib.suppress(Exception):
            backend.stop()
