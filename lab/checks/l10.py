"""Checks for exercise 10: the relay between a backend and the backplane (lesson 10).

Each check runs ``lab.checks.backplane_run``'s scenario (three backends in this kernel on one
broker, two SSE clients on each, posts to all three at once) on the in-process
``MemoryBroker``, then again on a real Redis when ``redis-server`` is installed (in CI it must
be). What goes wrong comes back as a symptom; ``MISTAKES`` below turns each into what the
learner reads: the mistake that causes it and a hint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lab.checks.backplane_places import FIRST_ID, Backplane, RedisBackplane, Staged
from lab.checks.backplane_run import BACKENDS, CLIENTS, Cluster, Symptom
from lab.checks.core import (
    CheckFailed,
    fail,
    learner_line,
    not_written,
    passed,
    probe,
    require_async,
    short,
)
from servers import runtime
from servers.backplane import BackplaneUnavailable, LocalPublish, MemoryBroker
from servers.backplane import publish_through as library_publish
from servers.backplane import relay as library_relay
from servers.feed import Feed
from servers.system import real_part
from servers.timing import scaled

CHECK_TIMEOUT = 60
"""Seconds one run of a check may take (scaled) before it gives up."""

ADD = (
    "add every post, live or read back, with `feed.add(post)`: it keeps the id and ignores an "
    "id the feed already holds."
)
LOOP = (
    "loop forever: `while True: try: async with broker.subscribe() ...` and "
    "`except BackplaneUnavailable: await asyncio.sleep(0.2)`, then subscribe again."
)
SKIP = "skip what is not a post: wrap `feed.add(post)` in `try: ... except ValueError: continue`."
CATCH_UP = (
    "after (re)subscribing, catch up from the shared history: "
    "`for post in await broker.since(feed.last_id): feed.add(post)`."
)
STAGES = {
    "round": "posts sent to all three backends at once",
    "bad messages": "the posts after two bad messages",
    "restart": "a backplane restart",
}

MISTAKES: dict[tuple[str, str], tuple[str, str]] = {
    # (exercise, or "*" for both; symptom): (what went wrong, hint)
    ("*", "not_subscribed"): (
        f"{BACKENDS} backends started, but {{subscribed}} relay(s) subscribed to the backplane.",
        "start with `async with broker.subscribe() as posts:` and keep it open while you relay "
        "(`async for post in posts: ...` inside the block).",
    ),
    ("*", "held_twice"): (
        "backend b{n}'s feed holds post {repeated[0]} twice (ids {held_s}): published just as "
        "your relay began to catch up, it arrived live and again from the history. That overlap "
        "is expected; the feed must keep one copy.",
        ADD,
    ),
    ("*", "slipped"): (
        "backend b{n} never got post {missing[0]}, published just after your relay read the "
        "history and before it subscribed: pub/sub does not keep messages for a subscriber that "
        "is not there yet.",
        "subscribe first (`async with broker.subscribe() as posts:`), then catch up with `await "
        "broker.since(feed.last_id)` inside that block: a post published in between then arrives "
        "live, and feed.add ignores a second copy.",
    ),
    ("*", "start_history"): (
        "backend b{n}'s feed holds ids {held_s} after starting; the backplane's history is "
        "{expected_s}.",
        "when the relay starts, catch up on what the backplane already holds: `for post in await "
        "broker.since(feed.last_id): feed.add(post)`; feed.add keeps each post's id.",
    ),
    ("*", "post_refused"): ("POST /posts to b{n} answered {status}: {said_s}", "read the error."),
    ("10.1", "answered_early"): (
        "POST /posts to b{n} answered 201 with post {id} before b{n}'s own feed held it: a client "
        "that posts and then reads the same backend would not see its own post.",
        "after `post = await broker.publish(text)`, wait for the relay to bring it back: "
        "`await feed.wait_for_posts(post['id'] - 1, 2)`, then return post.",
    ),
    ("10.1", "renumbered"): (
        "a client on b{n} received ids {got_s}: some of them ({foreign_s}) are not the "
        f"backplane's (it numbers from {FIRST_ID}). Your publish added the post to this "
        "backend's feed itself (feed.publish numbers it locally), and the relay brought it back: "
        "this backend's clients got their own posts twice.",
        "publish only to the broker: `post = await broker.publish(text)`; the relay adds it to "
        "every backend's feed, this one included.",
    ),
    ("10.2", "renumbered"): (
        "a client on b{n} received ids {got_s}; the backplane numbered these posts {ids_s}. Your "
        "relay renumbered them: feed.publish gives each post this backend's next id, so ids "
        "differ between backends and Last-Event-ID means nothing on another one.",
        "insert the post as it is, id included: `feed.add(post)`.",
    ),
    ("*", "repeated"): (
        "a client on b{n} received post(s) {repeated_s} more than once ({stage}).",
        "add each post with feed.add(post), which ignores an id the feed already holds.",
    ),
    ("10.1", "only_own"): (
        "a client on b{n} never received {missing_s} ({stage}): posts reached only the backend "
        "that took them.",
        "publish through the backplane: `post = await broker.publish(text)` (not feed.publish), "
        "so every backend's relay delivers it.",
    ),
    ("*", "missing after restart"): (
        "after a backplane restart, clients on b{n} never received {missing_s}: published after "
        "the backplane came back and before your relay subscribed again. Pub/sub does not keep "
        "messages for an absent subscriber.",
        CATCH_UP,
    ),
    ("*", "missing after bad messages"): (
        "after two bad messages on the backplane, clients on b{n} never received {missing_s}: "
        "your relay stopped.",
        SKIP,
    ),
    ("10.1", "missing after round"): (
        "a client on b{n} never received {missing_s} ({stage}), taken by other backends. Did your "
        "publish add its own post to the feed (feed.add)? Then a post from another backend with "
        "a lower id, still on its way through the backplane, arrives after it and is dropped as "
        "old.",
        "only publish to the broker, then wait for the relay to bring the post back: "
        "`await feed.wait_for_posts(post['id'] - 1, 2)`.",
    ),
    ("*", "misordered"): (
        "a client on b{n} received ids {got_s} ({stage}); expected {ids_s}, each once, in order.",
        "relay every post from the backplane into the feed with feed.add(post).",
    ),
    ("10.2", "relay_returned"): (
        f"after the backplane restarted, {{subscribed}} of {BACKENDS} relays subscribed again: "
        "your relay returned when the backplane went away.",
        LOOP,
    ),
    ("10.2", "not_resubscribed"): (
        "after the backplane came back, your relay did not subscribe again within {within:g} s "
        f"({{subscribed}} of {BACKENDS} relays had): every post published meanwhile waits in "
        "the history, and so do the clients.",
        "after `except BackplaneUnavailable:`, pause briefly before trying again "
        "(`await asyncio.sleep(0.2)`), not for seconds.",
    ),
    ("*", "spinning"): (
        "your relay never awaits while the backplane is down: it tried again {refused} times in "
        "0.1 s, keeping the servers' loop (every backend and client on it) busy.",
        "`await asyncio.sleep(0.2)` before trying again: `except BackplaneUnavailable: "
        "await asyncio.sleep(0.2)`.",
    ),
    ("*", "timed_out"): (
        "the check did not finish within {limit:g} s: your {name} kept the servers' loop from "
        "running (time.sleep, or a loop that never awaits?).",
        "wait with `await` (`await asyncio.sleep(...)`, `await broker...`), never with "
        "time.sleep, and await something in every turn of a loop.",
    ),
    ("*", "crash LocalPublish"): (
        "{name} called feed.publish{at}, which numbers a post in this backend's own feed, apart "
        "from the backplane: ids would differ between backends.",
        "publish with `await broker.publish(text)` (10.1); in the relay, add each post with its "
        "id kept: `feed.add(post)` (10.2).",
    ),
    ("10.2", "crash ValueError"): (
        "your relay raised {error_type}: {error}{at} on a message that is not a post, and "
        "stopped: every post after it was lost, on that backend for good.",
        SKIP,
    ),
    ("10.2", "crash BackplaneUnavailable"): (
        "your relay raised BackplaneUnavailable: {error}{at} when the backplane restarted, and "
        "stopped.",
        LOOP,
    ),
    ("*", "crash"): (
        "{name} raised {error_type}: {error}{at}.",
        "read the error above; the cell that defines the function is the place to fix it.",
    ),
}


def check_10_publish(publish: Callable[..., Any]) -> None:
    """Exercise 10.1: ``publish(feed, broker, text)``, the POST side, with the course's relay."""
    require_async("10.1", publish, "publish(feed, broker, text)", "it awaits the broker.")
    probe("10.1", publish, Feed(), MemoryBroker(), "a probe", timeout=1.0)
    count, where = _everywhere(
        "10.1", publish, lambda inner: Staged(inner, delay=0.05),
        relay=_relay_for_checks, publish=publish, outage=False,
    )  # fmt: skip
    passed(
        "10.1",
        f"{BACKENDS * CLIENTS} clients on {BACKENDS} backends each got all {count} posts once, "
        f"in order, with the backplane's ids, on {where}; every POST was answered once its own "
        "backend held the post.",
    )


def check_10_relay(relay: Callable[..., Any]) -> None:
    """Exercise 10.2: ``relay(feed, broker)``, from the backplane into a backend's feed."""
    require_async("10.2", relay, "relay(feed, broker)", "it awaits the broker.")
    probe("10.2", relay, Feed(), MemoryBroker(), timeout=0.3)
    count, where = _everywhere(
        "10.2", relay, lambda inner: Staged(inner, racing=True),
        relay=relay, publish=library_publish, outage=True,
    )  # fmt: skip
    passed(
        "10.2",
        f"{BACKENDS * CLIENTS} clients on {BACKENDS} backends each got all {count} posts once, "
        f"in order, with the backplane's ids, on {where} — including posts published while the "
        "relays were catching up, two skipped bad messages, and two posts published before the "
        "relays came back from a backplane restart.",
    )


async def _relay_for_checks(feed, broker):
    await library_relay(feed, broker, retry=0.05)


def _everywhere(exercise: str, learner, stage, **scenario: Any) -> tuple[int, str]:
    """Run the scenario on the MemoryBroker, then on Redis if it is installed; the number of
    posts delivered and where it ran."""
    redis = real_part("redis-server")  # MissingPart in CI
    places = [Backplane] + ([lambda: RedisBackplane(redis.path)] if redis.real else [])
    labels = []
    for place in places:
        backplane = place()
        try:
            count = _run(exercise, learner, backplane, stage(backplane.broker), **scenario)
        finally:
            backplane.stop()
        labels.append(backplane.label)
    return count, " and on ".join(labels) + ("" if redis.real else f" ({redis.note})")


def _run(exercise: str, learner, backplane: Backplane, broker: Staged, **scenario: Any) -> int:
    outage = scenario.pop("outage")
    cluster = Cluster(backplane, broker, learner_publishes=exercise == "10.1", **scenario)
    limit = scaled(CHECK_TIMEOUT)

    async def run() -> None:
        try:
            await asyncio.wait_for(cluster.run(outage=outage), limit)
        except TimeoutError:
            raise cluster.timed_out() from None
        finally:
            await broker.close()

    try:
        runtime.run(run(), timeout=limit + 10)
    except TimeoutError:
        raise explain(exercise, learner, cluster.timed_out(), backplane, limit=limit) from None
    except Symptom as symptom:
        raise explain(exercise, learner, symptom, backplane, limit=limit) from None
    return cluster.count


def explain(
    exercise: str, learner, symptom: Symptom, backplane: Backplane, *, limit: float
) -> CheckFailed:
    """The failure the learner reads for ``symptom``, from ``MISTAKES``; a failure on Redis
    says so (the same code passed on the MemoryBroker)."""
    facts = dict(symptom.facts, name=learner.__name__, limit=limit, within=scaled(3))
    facts["stage"] = STAGES.get(facts.get("stage"), facts.get("stage"))
    facts |= {f"{k}_s": short(v) for k, v in symptom.facts.items() if isinstance(v, list | str)}
    name = symptom.name
    if name == "crash":
        error = facts["error"]
        if isinstance(error, NotImplementedError):
            return not_written(exercise, learner.__name__)
        where = learner_line(error, learner.__name__)
        facts |= {"error_type": type(error).__name__, "at": f" ({where})" if where else ""}
        for kind in (LocalPublish, ValueError, BackplaneUnavailable):
            if isinstance(error, kind) and _entry(exercise, f"crash {kind.__name__}"):
                name = f"crash {kind.__name__}"
                break
    problem, hint = _entry(exercise, name) or MISTAKES["*", "misordered"]
    if isinstance(backplane, RedisBackplane):
        problem += f"\nThis happened on {backplane.label}; on the MemoryBroker it passed."
    return fail(exercise, problem.format(**facts), hint)


def _entry(exercise: str, name: str) -> tuple[str, str] | None:
    return MISTAKES.get((exercise, name)) or MISTAKES.get(("*", name))


__all__ = ["MISTAKES", "CheckFailed", "check_10_publish", "check_10_relay"]
