"""The failure drill: steady load, three failures, and a count for every client (lesson 14).

``await run_drill(cluster)`` (a ``lab.notify_cluster.NotifyCluster``) keeps ``clients`` SSE
readers on the cluster's front — two in three read ``broadcast``, the rest are logged-in users
reading their own channel — while a publisher posts ``rate`` posts a second through the front
to ``broadcast`` and the users' channels. A post counts as published only once it got its
201; a 502, 503, 504 or a broken connection is retried after a short pause. Then, each under
that steady load, the steps:

- ``kill``: SIGKILL the backend the first reader is on (in-kernel backends: cut its
  streams); its readers reconnect through the front to another backend and resume (the
  killed one is started again after the count);
- ``redis``: restart Redis (data kept, down ``redis_down`` s): posts get 503 and are retried,
  the relays subscribe again and catch up from the broker's history;
- ``restart``: SIGTERM every backend (each stream gets a ``shutdown`` event), start them all.

After each step the drill waits until every reader holds every post published during it (or
gives up after a while: that is a loss), then counts, for every reader: ``lost`` (published
ids it never got, and no ``gap`` event covered), ``duplicates`` (ids it got twice), ``gaps``
(``gap`` events) and ``reconnects``; ``replayed`` counts retries the service answered with a
post it had already taken (its 201 lost; the retry's ``Idempotency-Key`` was known), and
``taken twice`` posts readers got under ids the publisher was never given (a retry taken as a
new post: a key that did not hold; it must stay 0). Last,
``away``: one reader stays away while more posts than the history holds are published to
its channel; back, it must get a ``gap`` event covering exactly what the history no longer
holds — gaps are reported where history cannot help. ``Drill.rows`` is the table
(``Drill.table()`` as text), ``Drill.check()`` raises ``DrillFailed`` naming each reader and
the ids it lost or got twice, or an away reader told of no gap; ``describe(drill)`` says
what the run showed in sentences computed from its rows.

The clients are ``lab.drill_clients``' ``Reader`` (resuming as ``EventSource`` does, from an
explicit id) and ``Publisher``; ``flaw`` makes the first reader a broken one (``FLAWS``),
which ``check()`` must catch.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import httpx

from lab.drill_clients import FLAWS, Publisher, Reader
from servers.timing import scaled

STEPS = ("kill", "redis", "restart")


class DrillFailed(AssertionError):
    """A reader lost posts, got one twice, or was not told of a gap."""


@dataclass
class Count:
    """One reader after one step."""

    step: str
    reader: str
    channel: str
    lost: list[int]
    duplicates: list[int]
    reported: int
    gaps: int
    reconnects: int
    shutdowns: int = 0
    refused: str = ""


@dataclass
class Drill:
    """What ``run_drill`` saw: ``rows`` (one per step), ``counts`` (one per reader and step)."""

    kind: str
    clients: int
    rate: float
    history: int = 0
    retry_ms: int = 0
    rows: list[dict] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)

    def table(self) -> str:
        """The rows as a text table, one column per step, each step's failure named above it
        (a row per step would be too wide for a notebook's output)."""
        measures = [key for key in self.rows[0] if key not in ("step", "failure")]
        label = max(map(len, measures))
        width = max(8, *(len(row["step"]) for row in self.rows)) + 2
        lines = [f"{row['step']:<8} {row['failure']}" for row in self.rows] + [""]
        lines.append(" " * label + "".join(row["step"].rjust(width) for row in self.rows))
        for key in measures:
            values = "".join(str(row.get(key, "")).rjust(width) for row in self.rows)
            lines.append(key.ljust(label) + values)
        return "\n".join(lines)

    def check(self) -> None:
        """``DrillFailed`` naming every reader that lost a post or got one twice, and an away
        reader that was told of no gap."""
        wrong = [
            f"reader {c.reader} ({c.channel}), step {c.step!r}: "
            + "; ".join(
                part
                for part in (
                    c.lost and f"lost {_ids(c.lost)} (published, never received, no gap told)",
                    c.duplicates and f"got {_ids(c.duplicates)} twice",
                    c.refused and f"its stream was refused: {c.refused}",
                )
                if part
            )
            for c in self.counts
            if c.lost or c.duplicates or c.refused
        ]
        wrong += [
            f"reader {c.reader} ({c.channel}) was away past the history and got no gap event"
            for c in self.counts
            if c.step == "away" and c.gaps == 0
        ]
        if wrong:
            raise DrillFailed("the drill failed:\n" + "\n".join(wrong))


def describe(drill: Drill) -> str:
    """What the run showed, step by step, in sentences computed from its rows (markdown)."""
    balancer = drill.kind.split(" in front of")[0].split(" (")[0]  # its name, not why it ran
    rows = {row["step"]: row for row in drill.rows}
    said = [f"This run: {drill.kind}. {drill.clients} readers, {drill.rate:g} posts/s."]
    if "kill" in rows:
        r = rows["kill"]
        said.append(
            f"**{r['failure']}**: {r['moved']} readers were on it. Their streams broke with no "
            f"`shutdown` event; each waited the stream's `retry:` ({drill.retry_ms} ms), "
            f"reconnected through {balancer} to another backend with its `Last-Event-ID`, and "
            f"was sent what it had missed from the channel's history: {_losses(r)}."
        )
    if "redis" in rows:
        r = rows["redis"]
        said.append(
            f"**{r['failure']}**: {r['retried']} attempts to post were refused (503) or broke "
            f"and were retried until taken; {r['reconnects']} streams broke (the backends "
            "stayed up). The posts taken after the backplane came back reached every backend "
            f"through its relay's new subscription and catch-up: {_losses(r)}."
        )
    if "restart" in rows:
        r = rows["restart"]
        told = sum(1 for c in drill.counts if c.step == "restart" and c.shutdowns)
        said.append(
            f"**{r['failure']}**: {told} of {r['readers']} readers got a "
            f"`shutdown` event before their stream ended; {r['retried']} post attempts were "
            f"refused while no backend answered; {r['moved']} readers came back on another "
            f"backend than before, after {r['reconnects']} connection attempts in all: "
            f"{_losses(r)}."
        )
    if "away" in rows:
        r = rows["away"]
        said.append(
            f"**The away reader** missed {r['posts']} posts, more than the history of "
            f"{drill.history} holds: back, it got {r['gaps']} `gap` event covering "
            f"{r['told in a gap']} posts, then every post still held ({r['lost']} lost without "
            "a word)."
        )
    said.append(_retries(drill))
    return "\n\n".join(said)


def _retries(drill: Drill) -> str:
    """What the publisher's retries did: answered from their key, or (a fault) taken twice."""
    twice = sum(row["taken twice"] for row in drill.rows)
    replayed = sum(row["replayed"] for row in drill.rows)
    if twice:
        return (
            f"{twice} posts reached readers under ids the publisher was never given: "
            "their `201` was lost, the retry was taken as a new post, and their texts were "
            "published twice. The `Idempotency-Key` each retry carried did not hold."
        )
    if replayed:
        return (
            f"{replayed} retries were of posts the service had already taken: a failure cut "
            "the request after the post was numbered, so its `201` never arrived. Each retry "
            "carried its post's `Idempotency-Key`, and the service answered it with the post it "
            "had taken (`Idempotent-Replayed: true`), so no post was taken twice."
        )
    return (
        "Every post the readers got had been answered `201` the first time it was taken: no "
        "post was taken twice, and no retry needed its `Idempotency-Key` in this run (each "
        "refused attempt had published nothing). A cell below plays a lost answer on purpose."
    )


def _losses(row: dict) -> str:
    if row["lost"] or row["duplicates"]:
        return f"{row['lost']} posts lost and {row['duplicates']} delivered twice"
    return "no reader lost a post or got one twice"


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")
    return f"id {shown}" if len(ids) == 1 else f"{len(ids)} ids ({shown})"


async def run_drill(
    cluster,
    *,
    clients: int = 30,
    rate: float = 20.0,
    users: tuple[str, ...] = ("alice", "bob"),
    steps: tuple[str, ...] = STEPS,
    away: bool = True,
    steady: float = 1.0,
    redis_down: float = 0.5,
    flaw: str | None = None,
    settle: float = 10.0,
) -> Drill:
    """The drill on ``cluster`` (see the module); ``steady`` seconds of load before and
    after each failure, at most ``settle`` seconds (scaled) for every reader to hold every
    post after it. Call ``check()`` on the result."""
    if flaw not in (None, *FLAWS):
        raise ValueError(f"flaw must be one of {FLAWS}, got {flaw!r}")
    drill = Drill(cluster.kind, clients, rate, cluster.history, cluster.retry_ms)
    async with (
        httpx.AsyncClient(timeout=scaled(10)) as http,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        tokens = {user: await cluster.login(user) for user in (*users, "drill")}
        channels = ["broadcast", *users]
        publisher = Publisher(cluster.url, tokens["drill"], _load_order(users), rate)
        markers = {c: (await publisher.post(http, c, "drill starts"))["id"] for c in channels}
        readers = []
        for n in range(clients):
            channel = "broadcast" if n % 3 != 2 else users[(n // 3) % len(users)]
            token = tokens.get(channel)
            flawed = flaw if n == 0 else None
            readers.append(Reader(f"r{n}", channel, token, markers[channel], flawed))
        tasks = [asyncio.ensure_future(r.read(session, cluster.url)) for r in readers]
        try:
            await _within(asyncio.gather(*(r.connected.wait() for r in readers)), "connect")
            for step in steps:
                drill.rows.append(
                    await _step(cluster, step, drill, readers, publisher, http, steady, settle,
                                redis_down)
                )  # fmt: skip
            if away:
                drill.rows.append(await _away(cluster, drill, session, http, publisher))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return drill


async def _step(cluster, step, drill, readers, publisher, http, steady, settle, redis_down):
    """One failure under steady load, the wait for every reader, the count: the step's row."""
    failure, label, killed = _failure(cluster, step, readers[0], redis_down)
    start_ids = {c: len(ids) for c, ids in publisher.published.items()}
    before, retries, replayed = _snapshot(readers), publisher.retries, publisher.replayed
    until = asyncio.Event()
    publishing = asyncio.ensure_future(publisher.run(http, until, step))
    await asyncio.sleep(steady)
    started = time.monotonic()
    await asyncio.to_thread(failure)
    await asyncio.sleep(steady)
    until.set()
    await publishing
    expected = {c: ids[start_ids[c] :] for c, ids in publisher.published.items()}
    settled = await _settle(readers, expected, settle)
    row = _count(drill, step, readers, expected, before, label)
    row["retried"] = publisher.retries - retries
    row["replayed"] = publisher.replayed - replayed
    row["settled (s)"] = f"{settled - started:.1f}" if settled else "never"
    if killed is not None:  # back for the next step (its readers stay where they moved)
        await asyncio.to_thread(killed.start)
    return row


def _load_order(users: tuple[str, ...]) -> list[str]:
    """Half the posts to ``broadcast``, the rest to each user in turn."""
    return [c for user in users for c in ("broadcast", user)]


def _failure(cluster, step: str, first: Reader, redis_down: float):
    """The blocking action of ``step``, the row's description of it, the backend it kills."""
    if step == "kill":
        backend = next(b for b in cluster.backends if b.name == first.backend)
        return backend.kill, f"{backend.KILL} {backend.name}", backend
    if step == "redis":
        down = f"{'Redis' if cluster.redis else 'backplane'} down {redis_down:g} s"
        return lambda: cluster.restart_redis(down_for=redis_down), down, None
    if step == "restart":
        stop = f"{cluster.backends[0].STOP} all {len(cluster.backends)}, start all"
        return cluster.restart_all, stop, None
    raise ValueError(f"no step {step!r}: steps are {STEPS}")


def _snapshot(readers: list[Reader]) -> dict[str, tuple]:
    """Each reader's counters now: received, gaps, connections, backend, events."""
    return {
        r.name: (len(r.received), len(r.gaps), r.connections, r.backend, Counter(r.events))
        for r in readers
    }


async def _settle(
    readers: list[Reader], expected: dict[str, list[int]], within: float = 10.0
) -> float | None:
    """When every reader holds every id of ``expected`` for its channel (None: it never did
    within ``within`` s), after a quiet spell that lets copies that should not come arrive."""
    deadline = time.monotonic() + scaled(within)
    while not all(
        all(i in set(r.received) or r.gapped(i) for i in expected[r.channel]) for r in readers
    ):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.02)
    settled = time.monotonic()
    await asyncio.sleep(scaled(0.3))
    return settled


def _count(drill: Drill, step: str, readers, expected, before, label: str) -> dict:
    """Count every reader's step into ``drill.counts``; the step's row."""
    totals = Counter()
    moved, twice = 0, set()
    for r in readers:
        got_before, gaps_before, connections_before, backend_before, events_before = before[r.name]
        new = r.received[got_before:]
        seen = Counter(r.received)
        held = set(r.received)
        missing = [i for i in expected[r.channel] if i not in held]
        count = Count(
            step, r.name, r.channel,
            lost=[i for i in missing if not r.gapped(i)],
            duplicates=sorted({i for i in new if seen[i] > 1}),
            reported=sum(r.gapped(i) for i in missing),
            gaps=len(r.gaps) - gaps_before,
            reconnects=r.connections - connections_before,
            shutdowns=r.events["shutdown"] - events_before["shutdown"],
            refused=r.refused,
        )  # fmt: skip
        drill.counts.append(count)
        moved += r.backend != backend_before
        twice |= {(r.channel, i) for i in new if i not in expected[r.channel]}
        totals.update(
            lost=len(count.lost), duplicates=len(count.duplicates), gaps=count.gaps,
            reported=count.reported,
            reconnects=count.reconnects,
            shutdown=count.shutdowns,
            reset=r.events["reset"] - events_before["reset"],
        )  # fmt: skip
    return {
        "step": step,
        "failure": label,
        "posts": sum(len(ids) for ids in expected.values()),
        "retried": 0,
        "replayed": 0,
        "readers": len(readers),
        "moved": moved,
        "reconnects": totals["reconnects"],
        "shutdown events": totals["shutdown"],
        "lost": totals["lost"],
        "duplicates": totals["duplicates"],
        "gaps": totals["gaps"],
        "told in a gap": totals["reported"],
        "resets": totals["reset"],
        "taken twice": len(twice),
    }


async def _away(cluster, drill: Drill, session, http, publisher: Publisher) -> dict:
    """A reader that leaves, misses more posts than the history holds, and comes back."""
    user = "away"
    token = await cluster.login(user)
    start = (await publisher.post(http, user, "before leaving"))["id"]
    reader = Reader("away", user, token, start - 1)
    reading = asyncio.ensure_future(reader.read(session, cluster.url))
    try:
        await _within(_until(lambda: start in reader.received), "the away reader's first post")
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
    missed = range(cluster.history + 5)  # more than the channel's history holds
    retries, replayed = publisher.retries, publisher.replayed
    away = [(await publisher.post(http, user, f"away #{n}"))["id"] for n in missed]
    before = _snapshot([reader])
    reading = asyncio.ensure_future(reader.read(session, cluster.url))
    try:
        started = time.monotonic()
        settled = await _settle([reader], {user: away})
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
    row = _count(drill, "away", [reader], {user: away}, before, f"away for {len(away)} posts")
    row.update(posts=len(away), moved=0, readers=1)
    row["retried"] = publisher.retries - retries
    row["replayed"] = publisher.replayed - replayed
    row["settled (s)"] = f"{settled - started:.1f}" if settled else "never"
    return row


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def _within(awaitable, what: str, seconds: float = 10.0):
    try:
        return await asyncio.wait_for(awaitable, scaled(seconds))
    except TimeoutError:
        raise TimeoutError(f"gave up waiting for {what} after {scaled(seconds):g} s") from None
