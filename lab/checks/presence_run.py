"""The scenario behind exercise 14's check: presence across three backends (lesson 14).

Three notification-service apps (``servers.notify.make_app``) in this kernel share one
backplane and one presence store, each running the learner's ``Presence`` class (through
``lab.checks.presence_watch``). Users log in and open SSE streams (one a WebSocket) of
``broadcast`` on different backends, and every backend's ``GET /channels/broadcast/presence``
must list exactly the users with a connection open: seen from the other backends, two tabs
on one backend and on two, a last tab closed, connections held for several ttl, a backend
that dies without any cleanup (its users must drop out within the ttl) and a user who
reconnects to another one. What goes wrong is raised as a ``Symptom``; ``lab.checks.l14``
turns each into the learner's mistake and a hint.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from lab.checks.presence_watch import Guarded, Ledger, Watched
from servers import serve
from servers.notify import Signer, make_app
from servers.notify.roster import PresenceSetup
from servers.timing import scaled

BACKENDS = 3
CHANNEL = "broadcast"


class Symptom(Exception):
    """What the scenario saw go wrong: ``name``, and ``facts`` for the message."""

    def __init__(self, name: str, **facts: Any) -> None:
        super().__init__(name)
        self.name, self.facts = name, facts


@dataclass
class Tab:
    """One client connection: ``user`` on backend ``n``."""

    user: str
    n: int
    close: Any
    open: bool = True


class Scene:
    """The backends running ``presence_class`` on ``store`` and ``brokers``, and the clients."""

    def __init__(self, presence_class, store, brokers, ttl: float) -> None:
        self.presence_class, self.store, self.brokers, self.ttl = (
            presence_class, store, brokers, ttl
        )  # fmt: skip
        self.ledger = Ledger(ttl)
        self.servers: list = []
        self.tabs: list[Tab] = []
        self.alive = set(range(1, BACKENDS + 1))

    def _kind(self, backend: str):
        def make(store, name, ttl):
            try:
                return Guarded(self.presence_class(store, name, ttl), backend, self.ledger)
            except Exception as error:
                self.ledger.crashes.append((backend, "__init__", error))
                raise

        return make

    async def run(self) -> None:
        signer = Signer(b"the check's shared secret")
        try:
            for n in range(1, BACKENDS + 1):
                setup = PresenceSetup(
                    kind=self._kind(f"b{n}"),
                    store=Watched(self.store, f"b{n}", self.ledger),
                    ttl=self.ttl,
                    backend=f"b{n}",
                )
                app = make_app(brokers=self.brokers, signer=signer, presence=setup)
                self.servers.append(await asyncio.to_thread(serve, app, name=f"check-14-b{n}"))
            async with aiohttp.ClientSession() as self.session:
                try:
                    await self._steps()
                finally:
                    for tab in self.tabs:
                        if tab.open:
                            await tab.close()
        finally:
            for server in self.servers:
                await asyncio.to_thread(server.stop)

    async def _steps(self) -> None:
        await self.open("alice", 1)
        await self.expect(2, "seen_elsewhere", step="alice opened a stream on b1")
        bob = [await self.open("bob", 2), await self.open("bob", 2)]
        await self.expect(3, "not_seen", step="bob opened two tabs on b2")
        await self.shut(bob[0])
        await self.expect(3, "one_tab_closed", step="bob closed one of his two tabs on b2")
        carol = [await self.open("carol", 1), await self.open("carol", 3)]
        await self.expect(2, "not_seen", step="carol opened a tab on b1 and one on b3")
        await self.shut(carol[1])
        await self.expect(2, "other_backend_closed", step="carol closed her tab on b3")
        await self.shut(bob[1])
        await self.expect(1, "kept_after_leave", step="bob closed his last tab, on b2")
        await self.hold(2)
        await self.open("dave", 1)
        await self.expect(3, "not_seen", step="dave opened a stream on b1")
        await self.kill(1)

    async def open(self, user: str, n: int, *, websocket: bool = False) -> Tab:
        url = self.servers[n - 1].url
        async with self.session.post(f"{url}/login", json={"user": user}) as answer:
            token = (await answer.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        if websocket:
            address = url.replace("http", "ws") + f"/channels/{CHANNEL}/ws"
            try:
                ws = await self.session.ws_connect(address, headers=headers)
            except aiohttp.WSServerHandshakeError as refused:
                self.raise_problems()
                raise Symptom("refused", n=n, status=refused.status, said=refused.message) from None
            tab = Tab(user, n, ws.close)
        else:
            response = await self.session.get(f"{url}/channels/{CHANNEL}/events", headers=headers)
            if response.status != 200:
                self.raise_problems()
                raise Symptom("refused", n=n, status=response.status, said=await response.text())

            async def close() -> None:
                response.close()

            tab = Tab(user, n, close)
        self.tabs.append(tab)
        self.raise_problems()  # the stream's headers come after arrive() returned
        return tab

    async def shut(self, tab: Tab) -> None:
        """Close ``tab`` and wait until its backend's ``leave()`` returned."""
        before = self.ledger.done[f"b{tab.n}", "leave"]
        await tab.close()
        tab.open = False
        await self.wait(lambda: self.ledger.done[f"b{tab.n}", "leave"] > before, 3)
        self.raise_problems()

    def expected(self) -> set[str]:
        return {tab.user for tab in self.tabs if tab.open and tab.n in self.alive}

    async def online(self, n: int) -> set[str]:
        """What backend ``n``'s presence route says, the learner's faults raised first."""
        url = f"{self.servers[n - 1].url}/channels/{CHANNEL}/presence"
        async with self.session.get(url) as answer:
            status, said = answer.status, await answer.text()
            body = await answer.json() if status == 200 else None
        self.raise_problems()
        if body is None:
            raise Symptom("route", n=n, status=status, said=said)
        return set(body["online"])

    async def expect(self, n: int, symptom: str, *, step: str, within: float = 0) -> None:
        """Backend ``n`` must list exactly the users with a connection open (waiting up to
        ``within`` seconds for it): ``symptom`` names what a missing user means here."""
        expected = self.expected()
        deadline = asyncio.get_running_loop().time() + within
        while (got := await self.online(n)) != expected:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.02)
        if got == expected:
            return
        missing, extra = sorted(expected - got), sorted(got - expected)
        facts = dict(n=n, step=step, got=sorted(got), expected=sorted(expected))
        if missing and symptom == "seen_elsewhere":
            symptom = "local_only" if self.ledger.count(f"b{n}", "online", "entries") == 0 else (
                "seen_elsewhere" if "alice" in await self.online(1) else "not_seen"
            )  # fmt: skip
        elif not missing:
            symptom = "kept_after_leave"
        raise self.fault(symptom, missing=missing, extra=extra, **facts)

    async def hold(self, n: int) -> None:
        """Every user stays listed at backend ``n`` while connected, for 2.5 ttl."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while (held := loop.time() - began) < 2.5 * self.ttl:
            expected, got = self.expected(), await self.online(n)
            if got != expected:
                writes = sum(self.ledger.count(f"b{m}", "beat", "put") for m in self.alive)
                name = "expired_while_connected" if got < expected else "kept_after_leave"
                raise self.fault(
                    name, n=n, held=held, beats=self.ledger.done["b1", "beat"], writes=writes,
                    missing=sorted(expected - got), extra=sorted(got - expected),
                    step=f"{held:.1f} s into holding every connection open", got=sorted(got),
                    expected=sorted(expected),
                )  # fmt: skip
            await asyncio.sleep(self.ttl / 8)

    async def kill(self, n: int) -> None:
        """Backend ``n`` dies (nothing of it runs or reaches the store again); one of its users
        reconnects over a WebSocket to another backend. Its other users must drop out within
        the ttl, the reconnected one stay listed throughout (while b1's entry for him expires
        too), and no one stay once he leaves."""
        self.ledger.dead.add(f"b{n}")
        self.alive.discard(n)
        await asyncio.to_thread(self.servers[n - 1].stop)
        for tab in self.tabs:
            if tab.n == n and tab.open:
                await tab.close()
                tab.open = False
        dave = await self.open("dave", 2, websocket=True)
        loop = asyncio.get_running_loop()
        died, limit = loop.time(), self.ttl + max(self.ttl / 2, scaled(0.5))
        got: set[str] = set()
        while (waited := loop.time() - died) < limit or got != {"dave"}:
            got = await self.online(3)
            if "dave" not in got:
                raise self.fault("reconnect_lost", n=3, waited=waited, got=sorted(got))
            if waited > limit and got != {"dave"}:
                dead = sorted(got - {"dave"})
                raise self.fault("dead", n=3, waited=waited, users=dead, limit=limit, ttl=self.ttl)
            await asyncio.sleep(self.ttl / 20)
        await self.shut(dave)
        await self.expect(3, "kept_after_leave", step="dave closed his WebSocket, the last tab")

    async def wait(self, condition, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + scaled(seconds)
        while not condition() and asyncio.get_running_loop().time() < deadline:
            self.raise_problems()
            await asyncio.sleep(0.01)

    def fault(self, name: str, **facts: Any) -> Symptom:
        """The symptom ``name``, unless a store call made without ``await`` explains it."""
        if unawaited := self.ledger.unawaited(0):
            return Symptom("unawaited", method=unawaited[0].method, op=unawaited[0].op)
        return Symptom(name, **facts)

    def raise_problems(self) -> None:
        """The learner's faults, as soon as they are seen: misuse, crashes, calls never run."""
        if self.ledger.misuse:
            misuse = self.ledger.misuse[0]
            raise Symptom(misuse.name, **misuse.facts)
        if self.ledger.crashes:
            backend, method, error = self.ledger.crashes[0]
            raise Symptom("crash", backend=backend, method=method, error=error)
        if unawaited := self.ledger.unawaited():
            raise Symptom("unawaited", method=unawaited[0].method, op=unawaited[0].op)
