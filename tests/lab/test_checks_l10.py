"""Exercise 10's checks: a right publish and relay pass, each typical mistake is named."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from checks_support import assert_named, assert_passes, failure_of
from support import needs

from lab import checks
from lab.checks import l10
from servers import runtime, system
from servers.backplane import BackplaneUnavailable


async def good_publish(feed, broker, text):
    post = await broker.publish(text)
    await feed.wait_for_posts(post["id"] - 1, 2)
    return post


async def publish_answering_at_once(feed, broker, text):
    return await broker.publish(text)


async def publish_adding_its_own(feed, broker, text):
    post = await broker.publish(text)
    feed.add(post)
    return post


async def publish_locally(feed, broker, text):
    feed.publish(text)
    return await broker.publish(text)


async def publish_with_a_typo(feed, broker, text):
    post = await broker.publish(text)
    await feed.wait_for_posts(post["id"] - 1, 2)
    return post["identifier"]


def relay(
    *,
    catch_up=True,
    subscribe_first=True,
    skip_bad=True,
    renumber=False,
    resubscribe=True,
    returns=False,
    dedupe=True,
    pause=0.05,
):
    """A relay with the chosen mistakes (``pause=None``: retry at once, never awaiting;
    ``resubscribe=False``: lets BackplaneUnavailable out; ``returns``: returns on it)."""

    def apply(feed, post):
        if skip_bad == "str or no id":  # on Redis a message that is not JSON comes as bytes
            if isinstance(post, str) or "id" not in post:
                return
            feed.add(post)
        elif renumber:
            feed.publish(post["text"])
        elif not dedupe:
            append_blindly(feed, post)
        elif skip_bad:
            with contextlib.suppress(ValueError):
                feed.add(post)
        else:
            feed.add(post)

    async def once(feed, broker):
        if catch_up and not subscribe_first:
            for post in await broker.since(feed.last_id):
                apply(feed, post)
        async with broker.subscribe() as posts:
            if catch_up and subscribe_first:
                for post in await broker.since(feed.last_id):
                    apply(feed, post)
            async for post in posts:
                apply(feed, post)

    async def relay(feed, broker):
        while True:
            try:
                await once(feed, broker)
            except BackplaneUnavailable:
                if returns:
                    return
                if not resubscribe:
                    raise
                if pause is not None:
                    await asyncio.sleep(pause)

    return relay


def append_blindly(feed, post):
    """What a relay that keeps its own copy of Feed.add without the id check would do."""
    if not isinstance(post, dict) or "id" not in post:
        return
    with feed._lock:
        feed._last_id = max(feed._last_id, post["id"])
        feed._append({"id": post["id"], "text": post["text"], "ts": float(post["ts"])})


@pytest.mark.parametrize(
    ("check", "solution", "exercise"),
    [(checks.check_10_publish, good_publish, "10.1"), (checks.check_10_relay, relay(), "10.2")],
    ids=["publish", "relay"],
)
def test_a_right_solution_passes_on_the_memory_broker_and_on_redis_when_it_is_there(
    check, solution, exercise, capsys
):
    out = assert_passes(check, solution, exercise=exercise, capsys=capsys)
    assert ("and on Redis (" in out) == system.real_part("redis-server").real


@pytest.mark.parametrize(
    ("publish", "says"),
    [
        (publish_answering_at_once, "before b1's own feed held it"),
        (publish_adding_its_own, "dropped as old"),
        (publish_locally, "called feed.publish"),
    ],
)
def test_each_typical_publish_mistake_is_named(publish, says):
    assert_named(checks.check_10_publish, publish, exercise="10.1", says=says, hint=True)


@pytest.mark.parametrize(
    ("mistakes", "says"),
    [
        ({"subscribe_first": False}, "before it subscribed"),
        ({"catch_up": False}, "after starting"),
        ({"skip_bad": False}, "on a message that is not a post"),
        ({"renumber": True}, "called feed.publish"),
        ({"resubscribe": False}, "your relay raised BackplaneUnavailable"),
        ({"returns": True}, "your relay returned when the backplane went away"),
        ({"dedupe": False}, "twice"),
        ({"pause": None}, "never awaits while the backplane is down"),
        ({"pause": 30}, "did not subscribe again within"),  # longer than any scaled window
    ],
)
def test_each_typical_relay_mistake_is_named(mistakes, says):
    assert_named(checks.check_10_relay, relay(**mistakes), exercise="10.2", says=says, hint=True)


def test_a_relay_that_breaks_only_on_redis_is_caught_there():
    needs("redis-server")  # its bad message arrives as bytes, not str
    says = "relay raised TypeError"
    message = assert_named(
        checks.check_10_relay, relay(skip_bad="str or no id"), exercise="10.2", says=says
    )
    assert "This happened on Redis" in message and "on the MemoryBroker it passed" in message


def test_unwritten_functions_are_not_written_yet():
    async def relay(feed, broker):
        raise NotImplementedError()

    async def publish(feed, broker, text):
        raise NotImplementedError()

    for check, function in [(checks.check_10_relay, relay), (checks.check_10_publish, publish)]:
        assert "Hint:" in failure_of(check, function, match="not written yet")


def test_a_plain_function_is_told_to_be_async():
    failure_of(checks.check_10_relay, lambda feed, broker: None, match="async def")


def test_the_checks_leave_no_server_and_no_task_behind():
    checks.check_10_relay(relay())
    with contextlib.suppress(checks.CheckFailed):
        checks.check_10_relay(relay(skip_bad=False))
    assert not [s for s in runtime.running_servers() if s.name and "check-10" in s.name]
    assert runtime.pending_tasks() == []


def test_an_error_points_at_the_learners_line_not_the_librarys():
    message = failure_of(checks.check_10_relay, relay(skip_bad=False), match="exercise 10.2")
    assert "(at line " in message and " of relay: feed.add(post))" in message
    assert "raise ValueError" not in message
    assert message.count("(") == message.count(")")


def test_a_crashing_publish_is_explained_without_aiohttp_tracebacks(caplog):
    caplog.set_level(logging.ERROR)
    message = failure_of(checks.check_10_publish, publish_with_a_typo, match="exercise 10.1")
    assert "KeyError: 'identifier'" in message
    assert 'return post["identifier"]' in message
    assert "Error handling request" not in caplog.text


def test_a_check_that_cannot_finish_says_so_and_cleans_up(monkeypatch):
    monkeypatch.setattr(l10, "CHECK_TIMEOUT", 0.01)  # too short for any run, however scaled
    failure_of(checks.check_10_relay, relay(), match=r"did not finish within [\d.]+ s")
    assert not [s for s in runtime.running_servers() if s.name and "check-10" in s.name]
    assert runtime.pending_tasks() == []


def test_in_ci_the_checks_refuse_to_run_without_redis(monkeypatch):
    monkeypatch.setattr(system, "find_tool", lambda name: None)
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv(system.FALLBACK_SWITCH, raising=False)
    with pytest.raises(system.MissingPart, match="redis-server is not installed"):
        checks.check_10_relay(relay())
