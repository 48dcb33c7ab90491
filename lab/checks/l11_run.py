"""The scenario of exercise 11's check (lesson 11): a burst, then one post at a time until the
stalled client is dropped, the stalled client reading again, the fast ones leaving.

``Run.play`` raises a ``Symptom`` (``lab.checks.l11_mistakes``) for what goes wrong."""

from __future__ import annotations

import asyncio
import inspect
import statistics

from lab.checks.core import fail, short
from lab.checks.l11_mistakes import (
    EXERCISE,
    LIMIT,
    TOO_SLOW,
    Symptom,
    crashed,
    spans,
    waiting_at,
)
from lab.checks.stalled import POST_SIZE, STALLED, Reader, Stage, make_post, until
from servers.timing import scaled

FAST = 10
MOST = 90
"""Posts published, one at a time, before the check gives up waiting for the stalled drop."""
AFTER = 3
"""Posts published after the drop, which the fast clients must still get."""
WAIT = 1.0
"""Seconds (scaled) every fast client has to receive a post, and publish to return."""
PLAY_LIMIT = 40
"""Seconds (scaled) the whole scenario may take: every wait in it is bounded, this bounds all."""
SLOWED = 5
"""The first paced posts, whose delay is the fast clients' usual one."""
HELD_UP = 2
"""Posts held up for the fast clients that make a broadcaster one that waits for the stalled."""


class Run:
    """One run of the scenario against ``stage``'s broadcaster."""

    def __init__(self, stage: Stage) -> None:
        self.stage, self.url = stage, ""
        self.fast: list[Reader] = []
        self.stalled: Reader | None = None
        self.number = 0
        self.published_at: dict[int, float] = {}
        self.stuck: set[int] = set()  # posts published while the stalled send was stuck
        self.publish_tasks: set[asyncio.Task] = set()
        self.slowest = 0.0

    @property
    def broadcaster(self):
        return self.stage.broadcaster

    async def play(self) -> None:
        try:
            async with asyncio.timeout(scaled(PLAY_LIMIT)) as timer:
                try:
                    await self._steps()
                except asyncio.CancelledError:
                    if timer.expired():
                        problem = f"the check gave up after {scaled(PLAY_LIMIT):g} s, at post "
                        problem += f"{self.number}: your broadcaster kept it waiting."
                        hint = "wait only in each client's own task (its queue, its sends)."
                        raise fail(EXERCISE, problem, hint) from None
                    raise
        finally:
            for reader in [*self.fast, *([self.stalled] if self.stalled else [])]:
                await reader.abort()
            await self.stage.release()

    # -- the steps ------------------------------------------------------------------------

    async def _steps(self) -> None:
        names = [str(k) for k in range(1, FAST + 1)]
        for name in names:  # the stalled client in the middle: half subscribe after it
            if name == str(FAST // 2 + 1):
                self.stalled = await Reader.connect(self.url, STALLED, stalled=True)
            self.fast.append(await Reader.connect(self.url, name))
        await self.stage.wait_for_clients([*names, STALLED])
        self._crashes()
        await self._burst()
        await self._until_dropped()
        await self._after_the_drop()
        await self._leave()

    async def _burst(self) -> None:
        """``limit`` posts at once: a fast client's queue must hold them all."""
        for _ in range(LIMIT):
            await self._publish()
        await self._delivered(self.number, during=f" (during a burst of {LIMIT} posts at once)")
        self._fast_got_everything()

    async def _until_dropped(self) -> None:
        """One post at a time, each received by every fast client before the next, until the
        stalled client is dropped; then a few more."""
        client = self.stage.clients[STALLED]
        while not client.closes and self.number < MOST:
            await self._publish()
            await self._delivered(self.number)
        if not client.closes:
            await self._never_dropped()
        code, reason, n = client.closes[0]
        pending = n - 1 - client.started  # before post n; the post being sent is not waiting
        if code != TOO_SLOW or not str(reason):
            raise Symptom("wrong code", code=code, reason=reason)
        if pending != LIMIT:
            symptom = "dropped early" if pending < LIMIT else "dropped late"
            raise Symptom(symptom, n=n, pending=pending, off=LIMIT - pending)
        if not await until(lambda: all(t.done() for t in client.tasks), 1.0):
            left = [t for t in client.tasks if not t.done()]
            raise Symptom("task left", code=code, n=n, where=waiting_at(left))
        self._crashes()
        for _ in range(AFTER):
            await self._publish()
            await self._delivered(self.number)
        if len(client.closes) > 1:
            raise Symptom("closed again", first=n, n=client.closes[1][2])

    async def _after_the_drop(self) -> None:
        """The stalled client reads again: what was sent to it before, then its close frame."""
        self._fast_got_everything()
        self.stalled.start()
        await until(lambda: self.stalled.reading.done(), 3.0)
        sent = self.stage.clients[STALLED].started
        if self.stalled.got != list(range(1, sent + 1)):
            raise Symptom("stalled lost", got_s=spans(self.stalled.got), sent=sent)
        if self.stalled.close_code != TOO_SLOW:
            raise fail(EXERCISE, f"the stalled client's close code was {self.stalled.close_code}")
        await until(lambda: self.stage.clients[STALLED].left, 2.0)
        await asyncio.sleep(0.05)  # its handler's unsubscribe
        self._crashes()

    async def _leave(self) -> None:
        """The fast clients close; afterwards nothing may reach them."""
        for reader in self.fast:
            await reader.leave()
        clients = [self.stage.clients[r.name] for r in self.fast]
        await until(lambda: all(c.left for c in clients), 2.0)
        await until(lambda: all(t.done() for c in clients for t in c.tasks), 1.0)
        self._crashes()
        left = [c for c in clients if any(not t.done() for t in c.tasks)]
        if left:
            tasks = [t for c in left for t in c.tasks if not t.done()]
            names = ", ".join(c.name for c in left)
            raise Symptom("task left after unsubscribe", names=names, where=waiting_at(tasks))
        for _ in range(LIMIT + 1):
            await self._publish()
        await asyncio.sleep(0.05)
        self._crashes()
        for client in self.stage.clients.values():
            if client.after_leaving:
                raise Symptom("kept after leaving", what=client.after_leaving[0], name=client.name)

    # -- what happens at each post --------------------------------------------------------

    async def _publish(self) -> None:
        self.number += 1
        n = self.number
        for client in self.stage.clients.values():
            client.published = n
        if self.stage.clients[STALLED].stalled:
            self.stuck.add(n)
        before = asyncio.all_tasks()
        self.published_at[n] = asyncio.get_running_loop().time()
        try:
            result = self.broadcaster.publish(make_post(n))
            if inspect.isawaitable(result):
                async with asyncio.timeout(scaled(WAIT)) as timer:
                    try:
                        await result
                    except asyncio.CancelledError:
                        if timer.expired():
                            raise self._blocked(n) from None
                        raise
        except Exception as error:
            if isinstance(error, Symptom):
                raise
            raise crashed(error, "publish") from None
        finally:
            self.publish_tasks |= asyncio.all_tasks() - before
        self._crashes()

    def _blocked(self, n: int) -> Symptom:
        reached = sum(n in r.times for r in self.fast)
        if reached == FAST:
            return Symptom("publish blocks", n=n, wait=scaled(WAIT))
        return Symptom("one after another", n=n, reached=reached, fast=FAST, wait=scaled(WAIT))

    async def _delivered(self, n: int, during: str = "") -> None:
        """Wait for every fast client to have posts up to ``n``, or say why one has not."""
        clients = [self.stage.clients[r.name] for r in self.fast]

        def done() -> bool:
            odd = any(r.odd for r in self.fast)
            return all(n in r.times for r in self.fast) or odd or self._failing(clients)

        arrived = await until(done, WAIT)
        if arrived:  # the posts before it, if they are only late (a burst, reordered)
            await until(lambda: all(set(range(1, n + 1)) <= r.times.keys() for r in self.fast), 0.3)
        self._crashes()
        for reader, client in zip(self.fast, clients, strict=True):
            if reader.odd:
                raise Symptom("not a post", odd=short(reader.odd[0], 60))
            if client.closes:
                code, _, at = client.closes[0]
                facts = {"name": client.name, "code": code, "n": at, "during": during}
                raise Symptom("fast dropped", pending=at - 1 - client.started, **facts)
        if not arrived:
            missing = ", ".join(r.name for r in self.fast if n not in r.times)
            dropped = self.stage.clients[STALLED].closes
            if dropped and dropped[0][2] == n:
                raise Symptom("fast lost at the drop", names=missing, n=n)
            if any(len(set(r.got)) < len(r.got) for r in self.fast):
                self._fast_got_everything()  # names the post sent twice
            if self.stage.clients[STALLED].stalled:
                raise self._blocked(n)
            raise Symptom("not delivered", n=n, missing=missing, wait=scaled(WAIT))
        latest = max(r.times[n] for r in self.fast) - self.published_at[n]
        self.slowest = max(self.slowest, latest)

    def _failing(self, clients) -> bool:
        crashed_task = any(
            t.done() and not t.cancelled() and t.exception() is not None
            for t in self.learner_tasks()
        )
        return bool(self.stage.crashes) or any(c.closes for c in clients) or crashed_task

    def _judge_delays(self) -> None:
        """The fast clients' delays on posts published while the stalled client's buffers were
        full, against their median delay on the first paced posts: a broadcaster that waits a
        while for each client, then gives up on it, shows here, on every post whose send to the
        stalled client blocked (one in about 16). ``HELD_UP`` posts at least: one post held up
        by the machine (a busy CI) is not a broadcaster that waits."""
        paced = [n for n in self.published_at if n > LIMIT]
        stuck = [n for n in paced[SLOWED:] if n in self.stuck]
        if not stuck:
            return

        def delay(n: int) -> float:
            return max(r.times[n] for r in self.fast) - self.published_at[n]

        before = statistics.median(delay(n) for n in paced[:SLOWED])
        slow = [delay(n) for n in stuck if delay(n) > max(10 * before, scaled(0.1))]
        if len(slow) >= HELD_UP:
            raise Symptom(
                "slow for everyone", before=before * 1000, during=max(slow) * 1000,
                held=len(slow), stuck=len(stuck),
            )  # fmt: skip

    def _fast_got_everything(self) -> None:
        expected = list(range(1, self.number + 1))
        for reader in self.fast:
            if reader.got == expected:
                continue
            repeated = sorted({n for n in reader.got if reader.got.count(n) > 1})
            missing = sorted(set(expected) - set(reader.got))
            name = reader.name
            if repeated:
                raise Symptom("fast repeated", name=name, repeated_s=spans(repeated))
            if missing:
                where = f" (of posts {spans(expected)})"
                raise Symptom("fast lost", name=name, missing_s=spans(missing), where=where)
            raise Symptom("fast reordered", name=name, got_s=short(reader.got, 100))

    async def _never_dropped(self) -> None:
        """``MOST`` posts and the stalled client still subscribed: which mistake is it?"""
        client = self.stage.clients[STALLED]
        if client.most_in_flight > 1:  # first: this evidence does not depend on timing
            raise Symptom("task per post", most=client.most_in_flight)
        self._judge_delays()
        self.stalled.start()
        count, deadline = -1, asyncio.get_running_loop().time() + scaled(5)
        while count != len(self.stalled.got) and asyncio.get_running_loop().time() < deadline:
            count = len(self.stalled.got)  # read until quiet
            await asyncio.sleep(scaled(0.3))
        got = list(self.stalled.got)
        if len(set(got)) >= self.number:
            mib = self.number * POST_SIZE / 2**20
            raise Symptom("unbounded", published=self.number, mib=mib)
        await self._publish()
        await until(lambda: self.number in self.stalled.got, 0.5)
        got = list(self.stalled.got)
        if got and (got != list(range(1, len(got) + 1))):
            missing = len(set(range(1, max(got) + 1)) - set(got))
            raise Symptom("lost silently", got_s=spans(got), missing=missing)
        raise Symptom("dropped silently", got_s=spans(got))

    # -- crashes ----------------------------------------------------------------------------

    def learner_tasks(self) -> list[asyncio.Task]:
        tasks = [t for c in self.stage.clients.values() for t in c.tasks]
        return tasks + list(self.publish_tasks)

    def _crashes(self) -> None:
        """Raise what the learner's code raised: in a method the server called, or in a task."""
        stage = self.stage
        if stage.crashes:
            raise crashed(stage.crashes[0][1], stage.crashes[0][0])
        for task in self.learner_tasks():
            if task.done() and not task.cancelled() and task.exception() is not None:
                name = getattr(task.get_coro(), "__qualname__", "a task").rsplit(".", 1)[-1]
                raise crashed(task.exception(), name)
