"""Exercise 04's check: a right /events handler passes; each likely mistake is named."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from checks_support import assert_named, assert_passes, failure_of

from lab import checks
from servers.feed import FEED
from servers.sse import encode_event


def events_handler(flaw: str = ""):
    """An /events handler for exercise 04 as a learner writes it, right or with one ``flaw``."""

    async def handler(request):
        feed = request.app[FEED]
        value = request.headers.get("Last-Event-ID", "")
        if flaw != "ignores the query":
            value = value or request.query.get("lastEventId", "")
        if flaw == "calls int() on any id":
            last = int(value) if value else feed.last_id
        elif flaw == "starts a new client from 0":
            last = int(value) if value.isdigit() else 0
        elif flaw == "never replays":
            last = feed.last_id
        else:
            last = int(value) if value.isdigit() else feed.last_id
        kind = "text/plain" if flaw == "says text/plain" else "text/event-stream"
        response = web.StreamResponse(headers={"Content-Type": kind})
        await response.prepare(request)
        while True:
            posts = await feed.wait_for_posts(last, 15)
            if not posts and flaw != "sends no heartbeat":
                await response.write(b":\n\n")
            for post in posts:
                with_id = flaw != "writes no ids"
                await response.write(
                    encode_event(json.dumps(post), id=post["id"] if with_id else None)
                )
                last = last if flaw == "never moves on" else post["id"]

    return handler


async def events_handler_that_crashes(request):
    return int(request.headers["Last-Event-ID"])  # KeyError for a new client


def test_a_right_events_handler_passes_exercise_04(capsys):
    out = assert_passes(
        checks.check_04_events_handler, events_handler(), exercise="04.1", capsys=capsys
    )
    assert "Last-Event-ID '4'" in out


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (events_handler_that_crashes, "events_handler_that_crashes raised KeyError"),
        (events_handler("writes no ids"), "the reconnection sent no Last-Event-ID"),
        (events_handler("never replays"), "the reconnection sent Last-Event-ID: 4"),
        (events_handler("never moves on"), "more than once"),
        (events_handler("starts a new client from 0"), "published before it connected"),
        (events_handler("ignores the query"), "sent ?lastEventId=5 (no Last-Event-ID header"),
        (events_handler("calls int() on any id"), "raised ValueError: invalid literal for int()"),
        (events_handler("says text/plain"), "answered Content-Type: text/plain; a browser's"),
        (events_handler("sends no heartbeat"), "a quiet stream got no heartbeat"),
    ],
)
def test_exercise_04_tells_each_mistake_apart_in_a_short_message(handler, says):
    message = assert_named(checks.check_04_events_handler, handler, exercise="04.1", says=says)
    assert len(message) < 600, message


@pytest.mark.parametrize(
    ("flaw", "hint"),
    [
        ("starts a new client from 0", "start from last = feed.last_id, not from 0"),
        ("ignores the query", 'request.query.get("lastEventId")'),
        ("calls int() on any id", "int(value) only when value.isdigit()"),
    ],
)
def test_the_hint_names_the_fix_for_each_way_of_finding_where_a_client_left_off(flaw, hint):
    assert (
        hint in failure_of(checks.check_04_events_handler, events_handler(flaw)).split("Hint:")[1]
    )


def test_a_plain_def_handler_is_told_to_be_async():
    told = "must be an `async def` function"
    failure_of(checks.check_04_events_handler, lambda request: None, match=told)
