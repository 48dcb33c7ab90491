"""Checks for exercise 10: the relay between a backend and the backplane (lesson 10).

Both checks run three backends in this kernel on one ``MemoryBroker`` (the same interface as
Redis's), with two SSE clients on each, and POST posts to all three at once: every client must
receive every post exactly once, in order, with the backplane's ids, whichever backend took
it. The broker starts numbering at 101, as a backplane that has been running a while would, so
a post renumbered by a backend's own feed (1, 2, 3...) stands out.
"""

from __future__ import annotations

import asyncio
import inspect
import sysconfig
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from lab.checks.core import CheckFailed, expect, fail, not_written, passed, short
from lab.clients import ClientLog, sse_listen
from servers import runtime, serve
from servers.backend import make_backend_app
from servers.backplane import (
    BackplaneFeed,
    BackplaneUnavailable,
    LocalPublish,
    MemoryBroker,
    attach,
)
from servers.backplane import publish_through as library_publish
from servers.backplane import relay as library_relay
from servers.feed import Feed
from servers.timing import scaled

BACKENDS = 3
CLIENTS = 2
"""SSE clients per backend."""
FIRST_ID = 101
CHECK_TIMEOUT = 60
"""Seconds a whole check may take (scaled) before it gives up."""
SPINNING = 100
"""Refused subscribe/since calls during a 0.1 s outage above which a relay is retrying
without pausing."""


def check_10_publish(publish: Callable[..., Any]) -> None:
    """Exercise 10.1: ``publish(feed, broker, text)``, the POST side, with the course's relay."""
    _expect_async(publish, "10.1", "publish(feed, broker, text)")
    _probe("10.1", publish, Feed(), MemoryBroker(), "a probe")
    broker = _DelayedBroker(first_id=FIRST_ID)
    cluster = _Cluster("10.1", broker, relay=_relay_for_checks, publish=publish)
    _run(cluster, outage=False)
    passed(
        "10.1",
        f"{BACKENDS * CLIENTS} clients on {BACKENDS} backends each got all {cluster.count} posts "
        "once, in order, with the backplane's ids; every POST was answered once its own backend "
        "held the post.",
    )


def check_10_relay(relay: Callable[..., Any]) -> None:
    """Exercise 10.2: ``relay(feed, broker)``, from the backplane into a backend's feed."""
    _expect_async(relay, "10.2", "relay(feed, broker)")
    _probe("10.2", relay, Feed(), MemoryBroker(), timeout=0.3)
    broker = _RacyBroker(first_id=FIRST_ID)
    cluster = _Cluster("10.2", broker, relay=relay, publish=library_publish)
    _run(cluster, outage=True)
    passed(
        "10.2",
        f"{BACKENDS * CLIENTS} clients on {BACKENDS} backends each got all {cluster.count} posts "
        "once, in order, with the backplane's ids — including posts published while the relays "
        "were catching up, two skipped bad messages, and two posts published before the relays "
        "came back from a backplane restart.",
    )


def _run(cluster: _Cluster, *, outage: bool) -> None:
    """Run the cluster on the servers' loop; a check that cannot finish says why."""
    limit = scaled(CHECK_TIMEOUT)
    try:
        runtime.run(asyncio.wait_for(cluster.run(outage=outage), limit), timeout=limit + 10)
    except TimeoutError:
        raise cluster.timed_out(limit) from None


async def _relay_for_checks(feed, broker):
    await library_relay(feed, broker, retry=0.05)


class _DelayedBroker(MemoryBroker):
    """Delivers each post 50 ms late, so a POST answered before its own backend holds the post
    shows up."""

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        subscribers, self._subscribers = self._subscribers, set()
        try:
            post = await super().publish(text, ts=ts)
        finally:
            self._subscribers = subscribers
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscribers):
            loop.call_later(0.05, subscription.deliver, dict(post))
        return post


class _RacyBroker(MemoryBroker):
    """While the relays start, publishes a post just before each history read (a relay that
    subscribed first gets it twice: live and read back) and one just after (a relay that
    subscribes only after catching up never sees it). Counts the calls refused while down."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.slipped: list[dict] = []
        self.doubled: list[dict] = []
        self.racing = True
        self.refused = 0

    def subscribe(self):
        self.refused += not self.up
        return super().subscribe()

    async def since(self, post_id: int) -> list[dict]:
        self.refused += not self.up
        if self.racing:
            self.doubled.append(await self.publish(f"published as a catch-up began {post_id}"))
        posts = await super().since(post_id)
        if self.racing:
            self.slipped.append(await self.publish(f"slipped in during a catch-up {post_id}"))
        return posts


class _Cluster:
    def __init__(self, exercise: str, broker: MemoryBroker, *, relay, publish) -> None:
        self.exercise, self.broker = exercise, broker
        self.learner = relay if exercise == "10.2" else publish
        self.errors: list[BaseException] = []
        self.ended: list[str] = []
        self.relay, self.publish = self._guard_relay(relay), self._guard_publish(publish)
        self.feeds: list[BackplaneFeed] = []
        self.count = 0

    def _guard_relay(self, relay):
        async def guarded(feed, broker):
            try:
                await relay(feed, broker)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.errors.append(error)
                raise
            self.ended.append("returned")

        return guarded

    def _guard_publish(self, publish):
        async def guarded(feed, broker, text):
            try:
                return await publish(feed, broker, text)
            except BackplaneUnavailable:
                raise
            except Exception as error:
                self.errors.append(error)  # explained by the check: a quiet 500, no traceback
                raise web.HTTPInternalServerError(text=f"{type(error).__name__}: {error}") from None

        return guarded

    async def run(self, *, outage: bool) -> None:
        broker, published = self.broker, []
        for text in ["from before the backends started 1", "from before the backends started 2"]:
            published.append(await broker.publish(text))
        servers = []
        try:
            for n in range(1, BACKENDS + 1):
                app = make_backend_app(f"check-10-b{n}")
                self.feeds.append(
                    attach(app, broker, relay_with=self.relay, publisher=self.publish)
                )
                servers.append(await asyncio.to_thread(serve, app, name=f"check-10-b{n}"))
            await self._started(servers)
            if isinstance(broker, _RacyBroker):
                broker.racing = False
                published += broker.doubled + broker.slipped
                published.sort(key=lambda p: p["id"])
            self._check_histories(published)
            await self._with_clients(servers, published, outage)
        finally:
            for server in servers:
                await asyncio.to_thread(server.stop)

    async def _started(self, servers) -> None:
        await self._wait(lambda: self.broker.subscribers == BACKENDS, 3)
        if self.broker.subscribers != BACKENDS:
            self._fail_on_errors()
            raise fail(
                self.exercise,
                f"{BACKENDS} backends started, but {self.broker.subscribers} relay(s) subscribed "
                "to the backplane.",
                "start with `async with broker.subscribe() as posts:` and keep it open while "
                "you relay (`async for post in posts: ...` inside the block).",
            )

    def _check_histories(self, published: list[dict]) -> None:
        expected = [p["id"] for p in published]
        for n, feed in enumerate(self.feeds, 1):
            held = [p["id"] for p in feed.since(0)]
            if held == expected:
                continue
            repeated = sorted({i for i in held if held.count(i) > 1})
            if repeated:
                raise fail(
                    self.exercise,
                    f"backend b{n}'s feed holds post {repeated[0]} twice (ids {short(held)}): "
                    "published just as your relay began to catch up, it arrived live and again "
                    "from the history. That overlap is expected; the feed must keep one copy.",
                    "add every post, live or read back, with `feed.add(post)`: it keeps the id "
                    "and ignores an id the feed already holds.",
                )
            slipped = [p["id"] for p in getattr(self.broker, "slipped", [])]
            missing = [i for i in expected if i not in held]
            if missing and set(missing) <= set(slipped):
                raise fail(
                    "10.2",
                    f"backend b{n} never got post {missing[0]}, published just after your "
                    "relay read the history and before it subscribed: pub/sub does not keep "
                    "messages for a subscriber that is not there yet.",
                    "subscribe first (`async with broker.subscribe() as posts:`), then catch up "
                    "with `await broker.since(feed.last_id)` inside that block: a post published "
                    "in between then arrives live, and feed.add ignores a second copy.",
                )
            raise fail(
                self.exercise,
                f"backend b{n}'s feed holds ids {short(held)} after starting; the backplane's "
                f"history is {short(expected)}.",
                "when the relay starts, catch up on what the backplane already holds: "
                "`for post in await broker.since(feed.last_id): feed.add(post)`; "
                "feed.add keeps each post's id.",
            )

    async def _with_clients(self, servers, published: list[dict], outage: bool) -> None:
        stop = asyncio.Event()
        logs = [(n, ClientLog()) for n in range(1, BACKENDS + 1) for _ in range(CLIENTS)]
        async with aiohttp.ClientSession() as session:
            since = published[-1]["id"]
            tasks = [
                asyncio.ensure_future(
                    sse_listen(
                        session,
                        servers[n - 1].url,
                        stop=stop,
                        log=log,
                        since=since,
                        reconnect_delay=0.1,
                    )
                )  # fmt: skip
                for n, log in logs
            ]
            try:
                await self._wait(lambda: all(f.waiting >= CLIENTS for f in self.feeds), 3)
                posts = await self._post_round(session, servers, "round 1")
                await self._expect_delivered(
                    logs, posts, "posts sent to all three backends at once"
                )
                if outage:
                    posts += await self._bad_messages(session, servers)
                    await self._expect_delivered(logs, posts, "the posts after two bad messages")
                    posts += await self._restart(session, servers)
                    await self._expect_delivered(logs, posts, "a backplane restart")
                self.count = len(posts)
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _post_round(self, session, servers, label: str) -> list[dict]:
        async def post(n: int) -> dict:
            server = servers[n % BACKENDS]
            async with session.post(
                server.url + "/posts", json={"text": f"{label}, post {n}"}
            ) as r:
                if r.status != 201:
                    self._fail_on_errors()
                    raise fail(
                        self.exercise,
                        f"POST /posts to b{n % BACKENDS + 1} answered {r.status}: "
                        f"{short(await r.text())}",
                        "read the error above.",
                    )
                post = {**await r.json(), "taken_by": n % BACKENDS + 1}
            async with session.get(server.url + "/posts", params={"since": post["id"] - 1}) as r:
                own = [p["id"] for p in await r.json()] if r.status == 200 else []
            if post["id"] not in own and self.exercise == "10.1":
                raise fail(
                    "10.1",
                    f"POST /posts to b{n % BACKENDS + 1} answered 201 with post {post['id']} "
                    "before b{0}'s own feed held it: a client that posts and then reads the "
                    "same backend would not see its own post.".format(n % BACKENDS + 1),
                    "after `post = await broker.publish(text)`, wait for the relay to bring it "
                    "back: `await feed.wait_for_posts(post['id'] - 1, 2)`, then return post.",
                )
            return post

        posts = await asyncio.gather(*(post(n) for n in range(6)))
        return sorted(posts, key=lambda p: p["id"])

    async def _bad_messages(self, session, servers) -> list[dict]:
        self.broker.inject("not JSON, not a post")
        self.broker.inject({"text": "a post without an id"})
        await asyncio.sleep(0.05)
        return await self._post_round(session, servers, "after bad messages")

    async def _restart(self, session, servers) -> list[dict]:
        self.broker.stop()
        await asyncio.sleep(0.1)
        if self.broker.refused > SPINNING:
            raise self._spinning()
        self.broker.start()
        missed = [await self.broker.publish(f"published before the relays came back {n}")
                  for n in (1, 2)]  # fmt: skip
        await self._wait(lambda: self.broker.subscribers == BACKENDS or self._ended(), 3)
        if self.broker.subscribers != BACKENDS:
            self._fail_on_errors()
            if self.ended:
                raise fail(
                    "10.2",
                    f"after the backplane restarted, {self.broker.subscribers} of {BACKENDS} "
                    "relays subscribed again: your relay ended when the backplane went away.",
                    "loop forever: `while True: try: async with broker.subscribe() ...` and "
                    "`except BackplaneUnavailable: await asyncio.sleep(0.2)`, then subscribe "
                    "again.",
                )
            raise fail(
                "10.2",
                f"after the backplane came back, your relay did not subscribe again within "
                f"{scaled(3):g} s ({self.broker.subscribers} of {BACKENDS} relays had): every "
                "post published meanwhile waits in the history, and so do the clients.",
                "after `except BackplaneUnavailable:`, pause briefly before trying again "
                "(`await asyncio.sleep(0.2)`), not for seconds.",
            )
        return missed + await self._post_round(session, servers, "after the restart")

    def _spinning(self) -> CheckFailed:
        return fail(
            "10.2",
            f"your relay never awaits while the backplane is down: it tried again "
            f"{self.broker.refused} times in 0.1 s, keeping the servers' loop (every backend and "
            "client on it) busy.",
            "`await asyncio.sleep(0.2)` before trying again: `except BackplaneUnavailable: "
            "await asyncio.sleep(0.2)`.",
        )

    def timed_out(self, limit: float) -> CheckFailed:
        """The failure for a check that did not finish within ``limit`` seconds."""
        if getattr(self.broker, "refused", 0) > SPINNING:
            return self._spinning()
        return fail(
            self.exercise,
            f"the check did not finish within {limit:g} s: your {self.learner.__name__} kept "
            "the servers' loop from running (time.sleep, or a loop that never awaits?).",
            "wait with `await` (`await asyncio.sleep(...)`, `await broker...`), never with "
            "time.sleep, and await something in every turn of a loop.",
        )

    def _ended(self) -> bool:
        return bool(self.ended) or bool(self.errors)

    async def _expect_delivered(self, logs, posts: list[dict], label: str) -> None:
        ids = [p["id"] for p in posts]
        await self._wait(
            lambda: all(set(ids) <= {a[0] for a in log.arrivals} for _, log in logs), 3
        )
        await asyncio.sleep(0.2)  # copies that should not come
        self._fail_on_errors()
        by_id = {p["id"]: p["text"] for p in posts}
        for n, log in logs:
            got = [post_id for post_id, _, _ in log.arrivals]
            if got == ids:
                continue
            self._explain(n, got, ids, by_id, label, posts)

    def _explain(self, n, got, ids, by_id, label, posts) -> None:
        exercise = self.exercise
        foreign = [i for i in got if i not in by_id]
        if foreign and min(foreign) < FIRST_ID:
            if exercise == "10.1":
                raise fail(
                    "10.1",
                    f"a client on b{n} received ids {short(got)}: some of them ({short(foreign)}) "
                    f"are not the backplane's (it numbers from {FIRST_ID}). Your publish added "
                    "the post to this backend's feed itself (feed.publish numbers it locally), "
                    "and the relay brought it back: this backend's clients got their own posts "
                    "twice.",
                    "publish only to the broker: `post = await broker.publish(text)`; the relay "
                    "adds it to every backend's feed, this one included.",
                )
            raise fail(
                "10.2",
                f"a client on b{n} received ids {short(got)}; the backplane numbered these posts "
                f"{short(ids)}. Your relay renumbered them: feed.publish gives each post this "
                "backend's next id, so ids differ between backends and Last-Event-ID means "
                "nothing on another one.",
                "insert the post as it is, id included: `feed.add(post)`.",
            )
        repeated = sorted({i for i in got if got.count(i) > 1})
        if repeated:
            raise fail(
                exercise,
                f"a client on b{n} received post(s) {short(repeated)} more than once ({label}).",
                "add each post with feed.add(post), which ignores an id the feed already holds.",
            )
        missing = [i for i in ids if i not in got]
        taken_here = {p["id"] for p in posts if p.get("taken_by") == n}
        if exercise == "10.1" and missing and set(got) <= taken_here:
            raise fail(
                "10.1",
                f"a client on b{n} never received {short(missing)} ({label}): posts reached "
                "only the backend that took them.",
                "publish through the backplane: `post = await broker.publish(text)` (not "
                "feed.publish), so every backend's relay delivers it.",
            )
        if missing and label == "a backplane restart":
            raise fail(
                "10.2",
                f"after a backplane restart, clients on b{n} never received {short(missing)}: "
                "published after the backplane came back and before your relay subscribed "
                "again. Pub/sub does not keep messages for an absent subscriber.",
                "after (re)subscribing, catch up from the shared history: "
                "`for post in await broker.since(feed.last_id): feed.add(post)`.",
            )
        if missing and label.startswith("the posts after two bad"):
            raise fail(
                "10.2",
                f"after two bad messages on the backplane, clients on b{n} never received "
                f"{short(missing)}: your relay stopped.",
                "skip what is not a post: wrap `feed.add(post)` in `try: ... except ValueError: "
                "continue`.",
            )
        if exercise == "10.1" and missing:
            raise fail(
                "10.1",
                f"a client on b{n} never received {short(missing)} ({label}), taken by other "
                "backends. Did your publish add its own post to the feed (feed.add)? Then a "
                "post from another backend with a lower id, still on its way through the "
                "backplane, arrives after it and is dropped as old.",
                "only publish to the broker, then wait for the relay to bring the post back: "
                "`await feed.wait_for_posts(post['id'] - 1, 2)`.",
            )
        raise fail(
            exercise,
            f"a client on b{n} received ids {short(got)} ({label}); expected {short(ids)}, "
            "each once, in order.",
            "relay every post from the backplane into the feed with feed.add(post).",
        )

    async def _wait(self, condition: Callable[[], bool], seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + scaled(seconds)
        while not condition() and asyncio.get_running_loop().time() < deadline:
            if self.errors and not isinstance(self.errors[0], BackplaneUnavailable | ValueError):
                self._fail_on_errors()
            await asyncio.sleep(0.01)

    def _fail_on_errors(self) -> None:
        if not self.errors:
            return
        error = self.errors[0]
        if isinstance(error, NotImplementedError):
            raise not_written(self.exercise, self.learner.__name__)
        at = _where(error)
        if isinstance(error, LocalPublish):
            raise fail(
                self.exercise,
                f"{self.learner.__name__} called feed.publish{at}, which numbers a post in this "
                "backend's own feed, apart from the backplane: ids would differ between "
                "backends.",
                "publish with `await broker.publish(text)` (10.1); in the relay, add each post "
                "with its id kept: `feed.add(post)` (10.2).",
            )
        if isinstance(error, ValueError) and self.exercise == "10.2":
            raise fail(
                "10.2",
                f"your relay raised {type(error).__name__}: {error}{at} on a message that is not "
                "a post, and stopped: every post after it was lost, on that backend for good.",
                "skip what is not a post: wrap `feed.add(post)` in `try: ... except ValueError: "
                "continue`.",
            )
        if isinstance(error, BackplaneUnavailable):
            raise fail(
                "10.2",
                f"your relay raised {type(error).__name__}: {error}{at} when the backplane "
                "restarted, and stopped.",
                "loop forever: `while True: try: async with broker.subscribe() ...` and "
                "`except BackplaneUnavailable: await asyncio.sleep(0.2)`, then subscribe again.",
            )
        raise fail(
            self.exercise,
            f"{self.learner.__name__} raised {type(error).__name__}: {error}{at}.",
            "read the error above; the cell that defines the function is the place to fix it.",
        )


_LIBRARY = (
    str(Path(__file__).resolve().parents[2] / "servers"),
    str(Path(__file__).resolve().parents[1]),
    sysconfig.get_paths()["stdlib"],
    sysconfig.get_paths()["purelib"],
    "site-packages",
    "<frozen ",
)


def _where(error: BaseException) -> str:
    """Where in the learner's code ``error`` came from: the deepest frame outside the course's
    packages, the standard library and site-packages (the cell that defines the function)."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not any(part in frame.filename for part in _LIBRARY)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at `{frame.line}`, line {frame.lineno} of the cell that defines it)"


def _expect_async(function, exercise: str, signature: str) -> None:
    expect(
        inspect.iscoroutinefunction(function),
        exercise,
        f"`{signature}` must be an `async def` function.",
        "write `async def` before its name: it awaits the broker.",
    )


def _probe(exercise: str, function, *args, timeout: float = 1.0) -> None:
    """Run the learner's function briefly, to tell "not written yet" from everything else."""

    async def probe() -> None:
        try:
            await asyncio.wait_for(function(*args), timeout)
        except NotImplementedError:
            raise not_written(exercise, function.__name__) from None
        except (Exception, TimeoutError):
            pass

    runtime.run(probe(), timeout=timeout + 5)


__all__ = ["CheckFailed", "check_10_publish", "check_10_relay"]
