"""Exercise 10's checks: a right publish and relay pass, each typical mistake is named."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lab import checks
from servers import runtime
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


def relay(*, catch_up=True, subscribe_first=True, skip_bad=True, renumber=False, resubscribe=True):
    """A relay with the chosen mistakes."""

    def apply(feed, post):
        if renumber:
            feed.publish(post["text"])
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
                if not resubscribe:
                    raise
                await asyncio.sleep(0.05)

    return relay


def test_a_right_publish_passes(capsys):
    checks.check_10_publish(good_publish)
    assert "✔ exercise 10.1" in capsys.readouterr().out


def test_a_right_relay_passes(capsys):
    checks.check_10_relay(relay())
    assert "✔ exercise 10.2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("publish", "says"),
    [
        (publish_answering_at_once, "before b1's own feed held it"),
        (publish_adding_its_own, "dropped as old"),
        (publish_locally, "called feed.publish"),
    ],
)
def test_each_typical_publish_mistake_is_named(publish, says):
    with pytest.raises(checks.CheckFailed, match="exercise 10.1") as failure:
        checks.check_10_publish(publish)
    assert says in str(failure.value)
    assert "Hint:" in str(failure.value)


@pytest.mark.parametrize(
    ("mistakes", "says"),
    [
        ({"subscribe_first": False}, "before it subscribed"),
        ({"catch_up": False}, "after starting"),
        ({"skip_bad": False}, "on a message that is not a post"),
        ({"renumber": True}, "called feed.publish"),
        ({"resubscribe": False}, "when the backplane"),
    ],
)
def test_each_typical_relay_mistake_is_named(mistakes, says):
    with pytest.raises(checks.CheckFailed, match="exercise 10.2") as failure:
        checks.check_10_relay(relay(**mistakes))
    assert says in str(failure.value)
    assert "Hint:" in str(failure.value)


def test_unwritten_functions_are_not_written_yet():
    async def relay(feed, broker):
        raise NotImplementedError()

    async def publish(feed, broker, text):
        raise NotImplementedError()

    for check, function in [(checks.check_10_relay, relay), (checks.check_10_publish, publish)]:
        with pytest.raises(checks.CheckFailed, match="not written yet") as failure:
            check(function)
        assert "Hint:" in str(failure.value)


def test_a_plain_function_is_told_to_be_async():
    with pytest.raises(checks.CheckFailed, match="async def"):
        checks.check_10_relay(lambda feed, broker: None)


def test_the_checks_leave_no_server_and_no_task_behind():
    checks.check_10_relay(relay())
    with contextlib.suppress(checks.CheckFailed):
        checks.check_10_relay(relay(skip_bad=False))
    assert not [s for s in runtime.running_servers() if s.name and "check-10" in s.name]
    assert runtime.pending_tasks() == []
