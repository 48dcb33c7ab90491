"""The scenario behind exercise 10's checks: three backends on one backplane (lesson 10).

Three backends in this kernel share one broker, with two SSE clients on each, and posts go to
all three at once: every client must receive every post exactly once, in order, with the
backplane's ids, whichever backend took it. The broker numbers from 101, as a backplane that
has been running a while would, so a post renumbered by a backend's own feed stands out. It
runs on the in-process ``MemoryBroker`` and on a real Redis alike: the scenario uses only the
``Broker`` contract, through ``lab.checks.backplane_places.Staged``, which plays the races.

What goes wrong is raised as a ``Symptom`` (a name and the facts seen); ``lab.checks.l10``
holds the table that turns each into a message and a hint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from lab.checks.backplane_places import FIRST_ID, Backplane, Staged
from lab.checks.core import Crashes
from lab.clients import ClientLog, sse_listen
from servers import serve
from servers.backend import make_backend_app
from servers.backplane import BackplaneUnavailable, attach
from servers.feed import PostNotTaken
from servers.timing import scaled

BACKENDS = 3
CLIENTS = 2
"""SSE clients per backend."""
SPINNING = 100
"""Refused subscribe/since calls during a 0.1 s outage above which a relay is retrying
without pausing."""


class Symptom(Exception):
    """What the scenario saw go wrong: ``name``, and ``facts`` for the message."""

    def __init__(self, name: str, **facts: Any) -> None:
        super().__init__(name)
        self.name, self.facts = name, facts


class Cluster:
    """The backends, their relays and publishers (the learner's, guarded), and the clients."""

    def __init__(
        self, backplane: Backplane, broker: Staged, *, relay, publish, learner_publishes: bool
    ) -> None:
        self.backplane, self.broker = backplane, broker
        self.learner_publishes = learner_publishes
        self.crashes = Crashes()
        self.ended: list[str] = []
        self.relay, self.publish = self._watch(relay), self._quiet(publish)
        self.feeds: list = []
        self.count = 0

    def _watch(self, relay):
        guarded = self.crashes.guard(relay)

        async def relay_watched(feed, broker):
            await guarded(feed, broker)
            self.ended.append("returned")

        return relay_watched

    def _quiet(self, publish):
        guarded = self.crashes.guard(publish, letting=(BackplaneUnavailable, PostNotTaken))

        async def publish_quietly(feed, broker, text):
            try:
                return await guarded(feed, broker, text)
            except (BackplaneUnavailable, PostNotTaken):
                raise
            except Exception as error:  # recorded: the check explains it; a 500, no traceback
                raise PostNotTaken(f"{type(error).__name__}: {error}") from None

        return publish_quietly

    async def run(self, *, outage: bool) -> None:
        broker, servers = self.broker, []
        published = [await broker.publish(f"from before the backends started {n}") for n in (1, 2)]
        try:
            for n in range(1, BACKENDS + 1):
                app = make_backend_app(f"check-10-b{n}")
                self.feeds.append(
                    attach(app, broker, relay_with=self.relay, publisher=self.publish)
                )
                servers.append(await asyncio.to_thread(serve, app, name=f"check-10-b{n}"))
            await self._until_subscribed("not_subscribed")
            broker.racing = False

            def history() -> list[dict]:  # a catch-up still under way may add to it
                return sorted(published + broker.doubled + broker.slipped, key=lambda p: p["id"])

            def caught_up() -> bool:
                ids = [p["id"] for p in history()]
                return all([p["id"] for p in feed.since(0)] == ids for feed in self.feeds)

            await self._wait(caught_up, 1)
            published = history()
            self._check_histories(published)
            await self._with_clients(servers, published, outage)
        finally:
            for server in servers:
                await asyncio.to_thread(server.stop)

    async def _until_subscribed(self, symptom: str) -> None:
        async def subscribed() -> int:
            return await self.broker.count_subscribers()

        await self._wait(lambda: bool(self.ended or self.crashes), 3, also=subscribed)
        if (count := await subscribed()) != BACKENDS:
            self.raise_crash()
            raise Symptom("relay_returned" if self.ended else symptom, subscribed=count)

    def _check_histories(self, published: list[dict]) -> None:
        expected = [p["id"] for p in published]
        for n, feed in enumerate(self.feeds, 1):
            held = [p["id"] for p in feed.since(0)]
            if held != expected:
                repeated = sorted({i for i in held if held.count(i) > 1})
                missing = [i for i in expected if i not in held]
                slipped = {p["id"] for p in self.broker.slipped}
                if repeated:
                    name = "held_twice"
                elif missing and set(missing) <= slipped:
                    name = "slipped"
                else:
                    name = "start_history"
                raise Symptom(
                    name, n=n, held=held, expected=expected, repeated=repeated, missing=missing
                )

    async def _with_clients(self, servers, published: list[dict], outage: bool) -> None:
        stop, since = asyncio.Event(), published[-1]["id"]
        logs = [(n, ClientLog()) for n in range(1, BACKENDS + 1) for _ in range(CLIENTS)]
        async with aiohttp.ClientSession() as session:
            tasks = [
                asyncio.ensure_future(
                    sse_listen(
                        session, servers[n - 1].url, stop=stop, log=log, since=since,
                        reconnect_delay=0.1,
                    )
                )
                for n, log in logs
            ]  # fmt: skip
            try:
                await self._wait(lambda: all(f.waiting >= CLIENTS for f in self.feeds), 3)
                posts = await self._post_round(session, servers, "round 1")
                await self._delivered(logs, posts, "round")
                if outage:
                    await self.broker.inject("not JSON, not a post")
                    await self.broker.inject({"text": "a post without an id"})
                    posts += await self._post_round(session, servers, "after bad messages")
                    await self._delivered(logs, posts, "bad messages")
                    posts += await self._restart(session, servers)
                    await self._delivered(logs, posts, "restart")
                self.count = len(posts)
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _post_round(self, session, servers, label: str) -> list[dict]:
        async def post(n: int) -> dict:
            server, b = servers[n % BACKENDS], n % BACKENDS + 1
            async with session.post(
                server.url + "/posts", json={"text": f"{label}, post {n}"}
            ) as r:
                if r.status != 201:
                    self.raise_crash()
                    raise Symptom("post_refused", n=b, status=r.status, said=await r.text())
                post = {**await r.json(), "taken_by": b}
            async with session.get(server.url + "/posts", params={"since": post["id"] - 1}) as r:
                own = [p["id"] for p in await r.json()] if r.status == 200 else []
            if post["id"] not in own and self.learner_publishes:
                raise Symptom("answered_early", n=b, id=post["id"])
            return post

        return sorted(await asyncio.gather(*(post(n) for n in range(6))), key=lambda p: p["id"])

    async def _restart(self, session, servers) -> list[dict]:
        self.broker.closed = True
        await self.backplane.cut()
        self.broker.refused = 0
        await asyncio.sleep(0.1)
        if self.broker.refused > SPINNING:
            raise Symptom("spinning", refused=self.broker.refused)
        await self.backplane.restore()
        missed = [
            await self.broker.publish(f"published before the relays came back {n}") for n in (1, 2)
        ]
        self.broker.closed = False  # the relays may subscribe again only now: they missed both
        await self._until_subscribed("not_resubscribed")
        return missed + await self._post_round(session, servers, "after the restart")

    def timed_out(self) -> Symptom:
        """The symptom of a scenario that did not finish in time."""
        if self.broker.refused > SPINNING:
            return Symptom("spinning", refused=self.broker.refused)
        return Symptom("timed_out")

    async def _delivered(self, logs, posts: list[dict], stage: str) -> None:
        ids = [p["id"] for p in posts]
        await self._wait(
            lambda: all(set(ids) <= {a[0] for a in log.arrivals} for _, log in logs), 3
        )
        await asyncio.sleep(0.2)  # copies that should not come
        self.raise_crash()
        for n, log in logs:
            got = [post_id for post_id, _, _ in log.arrivals]
            if got != ids:
                raise self._misdelivered(n, got, ids, posts, stage)

    def _misdelivered(self, n: int, got: list[int], ids: list[int], posts, stage: str) -> Symptom:
        facts = {"n": n, "got": got, "ids": ids, "stage": stage}
        foreign = [i for i in got if i not in ids]
        if foreign and min(foreign) < FIRST_ID:
            return Symptom("renumbered", foreign=foreign, **facts)
        if repeated := sorted({i for i in got if got.count(i) > 1}):
            return Symptom("repeated", repeated=repeated, **facts)
        missing = [i for i in ids if i not in got]
        own = {p["id"] for p in posts if p.get("taken_by") == n}
        if missing and self.learner_publishes and set(got) <= own:
            return Symptom("only_own", missing=missing, **facts)
        if missing:
            return Symptom(f"missing after {stage}", missing=missing, **facts)
        return Symptom("misordered", **facts)

    async def _wait(self, condition: Callable[[], bool], seconds: float, *, also=None) -> None:
        deadline = asyncio.get_running_loop().time() + scaled(seconds)
        while not condition() and asyncio.get_running_loop().time() < deadline:
            if also is not None and await also() == BACKENDS:
                return
            if self.crashes and not isinstance(self.crashes[0], BackplaneUnavailable | ValueError):
                self.raise_crash()
            await asyncio.sleep(0.01)

    def raise_crash(self) -> None:
        if self.crashes:
            raise Symptom("crash", error=self.crashes[0])
