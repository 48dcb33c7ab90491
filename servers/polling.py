"""Polling routes of the feed: ``GET /posts`` with ETags (lesson 01) and the long poll
``GET /posts/wait`` (lesson 02)."""

from __future__ import annotations

import math

from aiohttp import web

from servers.feed import DEFAULT_WAIT, FEED, LONGEST_WAIT, MAX_WAIT, Feed, parse_post_id
from servers.http import bad_request, compact_json


async def list_posts(request: web.Request) -> web.Response:
    """``GET /posts?since=ID``: the posts after ``ID`` (default 0), oldest first.

    Carries an ``ETag`` naming the feed's state; a request whose ``If-None-Match`` matches it
    gets ``304 Not Modified`` with no body (lesson 01).
    """
    feed = request.app[FEED]
    since = parse_since(request, feed)
    posts, version = feed.read(since)
    headers = {"ETag": f'"{version}"', "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return web.Response(status=304, headers=headers)
    return web.json_response(posts, headers=headers, dumps=compact_json)


async def wait_for_posts(request: web.Request) -> web.Response:
    """``GET /posts/wait?since=ID&timeout=S``: long polling (lesson 02).

    Answers 200 with the posts after ``ID`` as soon as there are any, or 204 when ``S`` seconds
    (default ``DEFAULT_WAIT``, at most the app's ``max_wait``) pass without one.
    """
    feed = request.app[FEED]
    since = parse_since(request, feed)
    timeout = min(parse_timeout(request.query.get("timeout")), request.app[LONGEST_WAIT])
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
