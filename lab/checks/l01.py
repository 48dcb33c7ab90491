"""Checks for exercise 01: a conditional-GET poller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from lab.checks.core import call, expect, passed, recording_feed_server, short
from servers.feed import Feed


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
        )
    passed("01.1", "200 with posts and an ETag, 304 with no body, 200 again after a change.")


def check_01_poll_and_count(poll_and_count: Callable[..., Any]) -> None:
    """Exercise 01.2: ``poll_and_count(client, url, polls)`` counts requests, 304s, bytes saved."""
    feed = _filled_feed()
    with recording_feed_server(feed, "check-01") as (server, seen), httpx.Client() as client:
        url = server.url + "/posts"
        body = len(httpx.get(url).content)
        seen.clear()
        counts = call("01.2", poll_and_count, client, url, 5)
        expect(
            isinstance(counts, dict) and {"requests", "not_modified", "bytes_saved"} <= set(counts),
            "01.2",
            f"poll_and_count() returned {short(counts)}; expected a dict with requests, "
            "not_modified "
            "and bytes_saved.",
        )
        expect(
            len(seen) == 5 == counts["requests"],
            "01.2",
            f"the server saw {len(seen)} requests and you counted {counts['requests']}; "
            "expected 5 of each.",
            "send exactly `polls` requests, and count each one.",
        )
        validators = [request["If-None-Match"] for request in seen]
        expect(
            validators[0] is None and all(validators[1:]),
            "01.2",
            f"the If-None-Match headers sent were {validators}; expected none on the first "
            "request and the ETag on every later one.",
            "keep the etag each answer gives you and send it with the next request.",
        )
        expect(
            counts["not_modified"] == 4,
            "01.2",
            f"nothing changed during the 5 polls, so 4 answers were 304; you counted "
            f"{counts['not_modified']}.",
        )
        expect(
            counts["bytes_saved"] == 4 * body,
            "01.2",
            f"each 304 saved the {body}-byte body of the last 200, so expected bytes_saved = "
            f"4 × {body} = {4 * body}; you counted {counts['bytes_saved']}.",
            "remember len(response.content) of the last 200 and add it up for each 304.",
        )
    passed("01.2", f"5 polls, 4 answered 304, {4 * body} bytes of body saved.")


def _count(posts: Any) -> str:
    return f"{len(posts)} posts" if isinstance(posts, list) else f"posts={posts!r}"
