"""The feed's plain HTTP routes: ``POST /posts`` (lesson 00), ``GET /posts`` with ETags
(lesson 01) and the long poll ``GET /posts/wait`` (lesson 02).

``routes(feed_of)`` builds them; ``feed_of(request)`` is the feed a request reads, looked up
per request (lesson 10 swaps an app's feed for one on a backplane). ``servers.feed.app``
assembles them with the other transports' routes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from aiohttp import web

from servers.feed.model import Feed, PostNotTaken
from servers.http import bad_request, compact_json, parse_post_id, preflight

MAX_WAIT = 30.0
"""Longest a long-poll request is held, in seconds: half of the 60 s idle timeout that nginx's
proxy_read_timeout and AWS's Application Load Balancer default to (lesson 02)."""
DEFAULT_WAIT = 25.0
"""How long ``/posts/wait`` holds a request when the client gives no ``timeout``."""


def routes(feed_of: Callable[[web.Request], Feed], *, max_wait: float = MAX_WAIT) -> list:
    """``POST /posts``, ``GET /posts``, its CORS preflight, and ``GET /posts/wait`` holding a
    request at most ``max_wait`` seconds."""

    async def publish(request: web.Request) -> web.Response:
        return await publish_post(request, feed_of(request))

    async def list_(request: web.Request) -> web.Response:
        return await list_posts(request, feed_of(request))

    async def wait(request: web.Request) -> web.Response:
        return await wait_for_posts(request, feed_of(request), max_wait)

    return [
        web.post("/posts", publish),
        web.get("/posts", list_),
        web.route("OPTIONS", "/posts", preflight),
        web.get("/posts/wait", wait),
    ]


async def publish_post(request: web.Request, feed: Feed) -> web.Response:
    """``POST /posts`` with ``{"text": ...}``: 201 and the post, 400 saying what was wrong with
    the request, or (``PostNotTaken``) 503 when the feed may take it later, else 500."""
    try:
        body = json.loads(await request.read())
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise bad_request(f'the body is not valid JSON ({error}); send {{"text": "..."}}') from None
    if not isinstance(body, dict) or "text" not in body:
        raise bad_request('the body must be a JSON object with a "text" field: {"text": "..."}')
    try:
        post = await feed.submit(body["text"])
    except ValueError as error:
        raise bad_request(str(error)) from None
    except PostNotTaken as error:  # the HTTP edge: a domain error becomes a status here
        status = web.HTTPServiceUnavailable if error.temporary else web.HTTPInternalServerError
        raise status(text=str(error)) from None
    return web.json_response(post, status=201, dumps=compact_json)


async def list_posts(request: web.Request, feed: Feed) -> web.Response:
    """``GET /posts?since=ID``: the posts after ``ID`` (default 0), oldest first.

    Carries an ``ETag`` naming the feed's state; a request whose ``If-None-Match`` matches it
    gets ``304 Not Modified`` with no body (lesson 01).
    """
    since = parse_since(request, feed)
    posts, version = feed.read(since)
    headers = {"ETag": f'"{version}"', "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.json_response(posts, headers=headers, dumps=compact_json)


async def wait_for_posts(request: web.Request, feed: Feed, max_wait: float) -> web.Response:
    """``GET /posts/wait?since=ID&timeout=S``: long polling (lesson 02).

    Answers 200 with the posts after ``ID`` as soon as there are any, or 204 when ``S`` seconds
    (default ``DEFAULT_WAIT``, at most ``max_wait``) pass without one.
    """
    since = parse_since(request, feed)
    timeout = min(parse_timeout(request.query.get("timeout")), max_wait)
    posts = await feed.wait_for_posts(since, timeout)
    headers = {"Cache-Control": "no-store"}
    if not posts:
        return web.Response(status=204, headers=headers)
    return web.json_response(posts, headers=headers, dumps=compact_json)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an ``If-None-Match`` header (a list, or ``*``) to an ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def parse_since(request: web.Request, feed: Feed) -> int:
    """The ``since`` query parameter (default 0), checked against the feed."""
    since = parse_post_id(request.query.get("since", "0"), "since")
    if since > feed.last_id:
        raise bad_request(
            f'"since" is {since} but the newest post is {feed.last_id}: this is not the feed you '
            "were reading (was the server restarted?); start again from since=0"
        )
    return since


def parse_timeout(value: str | None) -> float:
    """Seconds to hold a long poll: ``DEFAULT_WAIT`` when absent, clamped to ``MAX_WAIT``."""
    if value is None:
        return DEFAULT_WAIT
    try:
        timeout = float(value)
    except ValueError:
        raise bad_request(f'"timeout" must be a number of seconds, got {value!r}') from None
    if not math.isfinite(timeout) or timeout < 0:
        raise bad_request(f'"timeout" must be 0 or more seconds, got {value!r}')
    return min(timeout, MAX_WAIT)
