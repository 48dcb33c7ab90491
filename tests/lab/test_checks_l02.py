"""lab.checks, exercise 02: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import httpx
import pytest

from lab import checks


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
    ],
)
def test_a_wrong_long_poll_handler_gets_a_message_naming_the_mistake(handler, says):
    with pytest.raises(checks.CheckFailed, match="exercise 02.1") as failure:
        checks.check_02_handler(handler)
    assert says in str(failure.value)


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


@pytest.mark.parametrize(
    ("follow", "says"),
    [
        (follow_forgetting_since, "set since to the id of the last post"),
        (follow_by_short_polling, "a long-polling client asks /posts/wait only"),
    ],
)
def test_a_wrong_follow_gets_a_message_naming_the_mistake(follow, says):
    with pytest.raises(checks.CheckFailed, match="exercise 02.2") as failure:
        checks.check_02_follow(follow)
    assert says in str(failure.value)


async def handler_that_sleeps_instead_of_waiting(request):
    import asyncio

    from aiohttp import web

    from servers.feed import FEED

    timeout = float(request.query.get("timeout", 25))
    await asyncio.sleep(timeout)
    posts = request.app[FEED].since(int(request.query.get("since", 0)))
    return web.json_response(posts) if posts else web.Response(status=204)


def test_a_handler_that_cannot_be_woken_is_told_so():
    with pytest.raises(checks.CheckFailed, match="not woken by the post"):
        checks.check_02_handler(handler_that_sleeps_instead_of_waiting)


def follow_without_a_timeout(base_url, since, count):
    received = []
    while len(received) < count:
        response = httpx.get(base_url + "/posts/wait", params={"since": since})
        if response.status_code == 200:
            received += response.json()
            since = received[-1]["id"]
    return received[:count]


def test_a_follow_that_sends_no_timeout_is_told_about_httpx_default():
    with pytest.raises(checks.CheckFailed, match="no timeout= parameter"):
        checks.check_02_follow(follow_without_a_timeout)
