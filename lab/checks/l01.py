"""Checks for exercise 01: a conditional-GET poller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web

from lab.checks.core import call, expect, passed, recording_feed_server, short
from lab.recording import record_requests
from servers import serve
from servers.feed import Feed, make_app


def _filled_feed() -> Feed:
    feed = Feed()
    for n in range(30):
        feed.publish(f"story {n}: " + "the quick brown fox jumps over the lazy dog " * 2)
    return feed


def check_01_conditional_get(conditional_get: Callable[..., Any]) -> None:
    """Exercise 01.1: ``conditional_get(client, url, etag)`` -> ``(status, posts, etag)``."""
    feed = _filled_feed()
    with recording_feed_server(feed, "check-01") as (server, seen), httpx.Client() as client:
        url = server.url + "/posts"
        first = call("01.1", conditional_get, client, url, None)
        expect(
            isinstance(first, tuple) and len(first) == 3,
            "01.1",
            f"conditional_get() returned {short(first)}; expected a tuple (status, posts, etag).",
        )
        status, posts, etag = first
        current = httpx.get(url).headers["ETag"]
        expect(
            seen[0]["If-None-Match"] is None,
            "01.1",
            f"with etag=None the request carried If-None-Match: {seen[0]['If-None-Match']!r}.",
            "send If-None-Match only when you have an etag to send.",
        )
        expect(
            status == 200 and isinstance(posts, list) and len(posts) == 30,
            "01.1",
            f"the first call returned status {status!r} and {_count(posts)}; expected 200 and "
            "the 30 posts.",
            "return response.status_code and response.json().",
        )
        expect(
            etag == current,
            "01.1",
            f"the first call returned etag {etag!r}; the server's ETag header was {current!r}.",
            'return response.headers["ETag"] as it is, quotes included.',
        )
        second = call("01.1", conditional_get, client, url, etag)
        sent = seen[-1]["If-None-Match"]
        expect(
            sent == etag,
            "01.1",
            f"called with etag={etag!r}, the request carried If-None-Match: {sent!r}.",
            'pass headers={"If-None-Match": etag} when etag is not None.',
        )
        expect(
            second == (304, None, etag),
            "01.1",
            f"nothing changed, so expected (304, None, {etag!r}); got {short(second)}.",
            "a 304 has no body: return None for the posts, and keep the etag you had.",
        )
        feed.publish("breaking news")
        third = call("01.1", conditional_get, client, url, etag)
        expect(
            third[0] == 200
            and third[1]
            and third[1][-1]["text"] == "breaking news"
            and third[2] not in (None, etag),
            "01.1",
            f"after a new post, expected 200, the posts with 'breaking news' last, and a new "
            f"etag; got status {third[0]!r}, {_count(third[1])}, etag {third[2]!r}.",
            "on a 200, return the answer's own ETag header, not the etag you sent.",
        )
    passed("01.1", "200 with posts and an ETag, 304 with no body, 200 again after a change.")


NEWS_AFTER = 2
"""The check publishes a post once the server has answered this many of the polls."""


def check_01_poll_and_count(poll_and_count: Callable[..., Any]) -> None:
    """Exercise 01.2: ``poll_and_count(client, url, polls)`` counts requests, 304s, bytes saved.

    The feed changes once during the polls (a post published right after the server answered
    the second), so a poller must take the new ETag and the new body's size from that 200."""
    feed = _filled_feed()
    app = make_app(feed)
    seen = record_requests(app)

    @web.middleware
    async def news_after_the_second_poll(request: web.Request, handler):
        response = await handler(request)  # the answer is made: the post comes after it
        if len(seen) == NEWS_AFTER:
            feed.publish("breaking news")
        return response

    app.middlewares.append(news_after_the_second_poll)
    with serve(app, name="check-01") as server, httpx.Client() as client:
        url = server.url + "/posts"
        before = len(httpx.get(url).content)
        seen.clear()
        counts = call("01.2", poll_and_count, client, url, 5)
        polls, after = list(seen), len(httpx.get(url).content)
        expect(
            isinstance(counts, dict) and {"requests", "not_modified", "bytes_saved"} <= set(counts),
            "01.2",
            f"poll_and_count() returned {short(counts)}; expected a dict with requests, "
            "not_modified and bytes_saved.",
        )
        expect(
            len(polls) == 5 == counts["requests"],
            "01.2",
            f"the server saw {len(polls)} requests and you counted {counts['requests']}; "
            "expected 5 of each.",
            "send exactly `polls` requests, and count each one.",
        )
        sent = [request["If-None-Match"] for request in polls]
        expect(
            sent[0] is None and all(sent[1:]),
            "01.2",
            f"the If-None-Match headers sent were {sent}; expected none on the first "
            "request and the ETag on every later one.",
            "keep the etag each answer gives you and send it with the next request.",
        )
        expect(
            sent[3] == sent[4] != sent[2],
            "01.2",
            f"a post was published after your 2nd poll, so the 3rd answer was a 200 with a new "
            f"ETag; yet the If-None-Match headers sent were {sent}: the 4th and 5th should "
            "carry the new one.",
            "on every 200, replace your etag with the answer's ETag header.",
        )
        expect(
            counts["not_modified"] == 3,
            "01.2",
            "polls 2, 4 and 5 were answered 304 (the feed changed once, before poll 3); you "
            f"counted {counts['not_modified']}.",
        )
        saved = before + 2 * after
        expect(
            counts["bytes_saved"] == saved,
            "01.2",
            f"each 304 saved the body of the last 200: {before} bytes for poll 2, then "
            f"{after} bytes (the body after the new post) for polls 4 and 5, so expected "
            f"bytes_saved = {before} + 2 × {after} = {saved}; you counted "
            f"{counts['bytes_saved']}.",
            "remember len(response.content) of each 200 (the latest one) and add it for each 304.",
        )
    passed("01.2", f"5 polls, the feed changed once, 3 answered 304, {saved} bytes of body saved.")


def _count(posts: Any) -> str:
    return f"{len(posts)} posts" if isinstance(posts, list) else f"posts={posts!r}"
