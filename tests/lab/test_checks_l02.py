"""lab.checks, exercise 02: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import httpx
import pytest
from checks_support import assert_named, assert_passes, failure_of

from lab import checks


def long_poll_handler_with(
    *,
    finite=True,
    nan_only=False,
    validate=True,
    since_default=True,
    block=False,
    refuse_large=False,
    forget_return=False,
):
    """The exercise's handler, written as the solution does, with the chosen mistakes.

    ``finite=False``: refuses only negative timeouts, so nan and inf are waited on;
    ``nan_only``: with it, also refuses nan (``math.isnan``) but not inf. ``validate=False``:
    no try/except around int() and float(). ``since_default=False``: ``request.query["since"]``.
    ``block``: polls the feed with ``time.sleep`` instead of awaiting it. ``refuse_large``:
    answers 400 to a timeout over 30 s instead of clamping it. ``forget_return``: no ``return``.
    """
    import math
    import time

    from aiohttp import web

    from servers.feed import FEED

    async def long_poll_handler(request):
        feed, query = request.app[FEED], request.query
        try:
            since = int(query.get("since", "0") if since_default else query["since"])
            timeout = float(query.get("timeout", "25"))
        except ValueError as error:
            if not validate:
                raise
            return web.json_response({"error": str(error)}, status=400)
        refused = since < 0 or timeout < 0
        refused |= (finite and not math.isfinite(timeout)) or (nan_only and math.isnan(timeout))
        if validate and (refused or (refuse_large and timeout > 30)):
            return web.json_response({"error": "bad since or timeout"}, status=400)
        if block:
            deadline = time.monotonic() + min(timeout, 30)
            while not (posts := feed.since(since)) and time.monotonic() < deadline:
                time.sleep(0.01)
        else:
            posts = await feed.wait_for_posts(since, min(timeout, 30))
        response = web.json_response(posts) if posts else web.Response(status=204)
        if not forget_return:
            return response

    return long_poll_handler


async def handler_answering_200_when_empty(request):
    from aiohttp import web

    from servers.feed import FEED

    posts = await request.app[FEED].wait_for_posts(
        int(request.query["since"]), float(request.query.get("timeout", 25))
    )
    return web.json_response(posts)


async def handler_ignoring_its_timeout(request):
    from aiohttp import web

    from servers.feed import FEED

    posts = await request.app[FEED].wait_for_posts(int(request.query["since"]), 0)
    return web.json_response(posts) if posts else web.Response(status=204)


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (handler_answering_200_when_empty, "answer 204 No Content"),
        (handler_ignoring_its_timeout, "the answer came before the 0.2 s were up"),
        (lambda request: None, "must be an `async def` function"),
        (long_poll_handler_with(finite=False), "timeout=nan got no answer"),
        (long_poll_handler_with(finite=False, nan_only=True), "timeout=inf got no answer"),
        (
            long_poll_handler_with(validate=False),
            "answered 500: long_poll_handler raised ValueError",
        ),
        (long_poll_handler_with(since_default=False), "raised KeyError: 'since'"),
        (long_poll_handler_with(block=True), "froze the whole server"),
        (long_poll_handler_with(refuse_large=True), "clamped to 30"),
        (long_poll_handler_with(forget_return=True), "returned None instead of a response"),
    ],
)
def test_a_wrong_long_poll_handler_gets_a_message_naming_the_mistake(handler, says):
    assert_named(checks.check_02_handler, handler, exercise="02.1", says=says, hint=True)


def follow_forgetting_since(base_url, since, count):
    received = []
    while len(received) < count:
        response = httpx.get(base_url + "/posts/wait", params={"since": since}, timeout=35)
        if response.status_code == 200:
            received += response.json()
    return received[:count]


def follow_by_short_polling(base_url, since, count):
    received = []
    while len(received) < count:
        posts = httpx.get(base_url + "/posts", params={"since": since}).json()
        received += posts
        since = posts[-1]["id"] if posts else since
    return received[:count]


def follow_with(*, parse_every_body=False, resume_at=-1):
    """The exercise's follow with the chosen mistakes: ``parse_every_body`` calls .json() on
    a 204 too; ``resume_at=0`` sets since to the first post of an answer, not the last."""

    def follow(base_url, since, count):
        received = []
        while len(received) < count:
            response = httpx.get(
                base_url + "/posts/wait", params={"since": since, "timeout": 25}, timeout=35
            )
            if response.status_code == 200 or parse_every_body:
                posts = response.json()
                received += posts
                since = posts[resume_at]["id"]
        return received[:count]

    return follow


@pytest.mark.parametrize(
    ("follow", "says"),
    [
        (follow_forgetting_since, "set since to the id of the last post"),
        (follow_by_short_polling, "a long-polling client asks /posts/wait only"),
        (follow_with(parse_every_body=True), "A 204 or 304 answer has no body"),
        (follow_with(resume_at=0), "set since to the id of the last post"),
    ],
)
def test_a_wrong_follow_gets_a_message_naming_the_mistake(follow, says):
    assert_named(checks.check_02_follow, follow, exercise="02.2", says=says)


async def handler_that_sleeps_instead_of_waiting(request):
    import asyncio

    from aiohttp import web

    from servers.feed import FEED

    timeout = float(request.query.get("timeout", 25))
    await asyncio.sleep(timeout)
    posts = request.app[FEED].since(int(request.query.get("since", 0)))
    return web.json_response(posts) if posts else web.Response(status=204)


def test_a_handler_that_cannot_be_woken_is_told_so():
    sleeper = handler_that_sleeps_instead_of_waiting
    failure_of(checks.check_02_handler, sleeper, match="not woken by the post")


def follow_without_a_timeout(base_url, since, count):
    received = []
    while len(received) < count:
        response = httpx.get(base_url + "/posts/wait", params={"since": since})
        if response.status_code == 200:
            received += response.json()
            since = received[-1]["id"]
    return received[:count]


def test_a_follow_that_sends_no_timeout_is_told_about_httpx_default():
    failure_of(checks.check_02_follow, follow_without_a_timeout, match="no timeout= parameter")


def test_a_right_long_poll_handler_passes(capsys):
    assert_passes(checks.check_02_handler, long_poll_handler_with(), exercise="02.1", capsys=capsys)


def test_a_handler_that_waits_on_nan_is_told_that_min_nan_30_is_nan():
    message = failure_of(checks.check_02_handler, long_poll_handler_with(finite=False))
    assert "`min(nan, 30)` is nan" in message
    assert "math.isfinite" in message


def test_a_crash_is_shown_at_the_learners_line():
    message = failure_of(checks.check_02_handler, long_poll_handler_with(since_default=False))
    assert 'query.get("since", "0") if since_default else query["since"]' in message
