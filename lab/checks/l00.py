"""Checks for exercise 00: a first feed client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from lab.checks.core import call, expect, fail, learner_line, passed, recording_feed_server, short


def check_00_publish(publish: Callable[[str, str], Any]) -> None:
    """Exercise 00.1: ``publish(base_url, text)`` POSTs a post and returns it as a dict."""
    from servers import serve
    from servers.feed import Feed, make_app

    feed = Feed()
    with serve(make_app(feed), name="check-00") as server:
        post = call("00.1", publish, server.url, "first post")
        expect(
            len(feed) == 1,
            "00.1",
            f"the server holds {len(feed)} posts after one call to publish(); expected 1.",
            'send a POST to base_url + "/posts" with a JSON body: httpx.post(url, json={...}).',
        )
        expect(
            not hasattr(post, "status_code"),
            "00.1",
            "publish() returned the HTTP response itself, not the post.",
            "return response.json(), the post the server sent back.",
        )
        expect(
            isinstance(post, dict) and set(post) >= {"id", "text", "ts"},
            "00.1",
            f"publish() returned {post!r}; expected the post, a dict with id, text and ts.",
            "return response.json().",
        )
        expect(
            post["text"] == "first post" and post["id"] == feed.last_id,
            "00.1",
            f"publish() returned {post!r}, but the server stored {feed.since(0)!r}.",
            "send the text you were given and return what the server answered.",
        )
        call("00.1", publish, server.url, "second post")
        expect(
            [p["text"] for p in feed.since(0)] == ["first post", "second post"],
            "00.1",
            f"after two calls the server holds {feed.since(0)!r}.",
        )
        _refuses_an_empty_post(publish, server.url)
    passed("00.1", "publish() stored each post once, returned it, and raised on a refusal.")


def _refuses_an_empty_post(publish: Callable[[str, str], Any], url: str) -> None:
    """The server answers ``publish(url, "")`` with a 400: the refusal must surface as the
    ``httpx.HTTPStatusError`` that ``raise_for_status()`` raises, not as a value or a crash."""
    try:
        refused = publish(url, "")
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        expect(
            status == 400,
            "00.1",
            f'publish(url, "") raised for status {status}, but the server answered 400.',
        )
        return
    except Exception as error:
        where = learner_line(error, "publish")
        raise fail(
            "00.1",
            f'publish(url, "") raised {type(error).__name__}: {error}'
            f"{' (' + where + ')' if where else ''}: a crash, not the refusal. The server "
            'refused that empty post with a 400 (its body says why: {"error": ...}), and the '
            "refusal should surface as the httpx.HTTPStatusError raise_for_status() raises.",
            "call response.raise_for_status() right after the request, before reading the body.",
        ) from None
    raise fail(
        "00.1",
        f'publish(url, "") returned {short(refused)}, but the server refused that empty post '
        "with a 400: an error should not look like a post, nor like nothing.",
        "call response.raise_for_status() before returning, so a 4xx raises.",
    )


def check_00_new_texts(new_texts: Callable[[str, int], Any]) -> None:
    """Exercise 00.2: ``new_texts(base_url, since)`` returns the texts of posts after ``since``."""
    from servers.feed import Feed

    feed = Feed(history=3)  # ids 3, 4, 5 remain: positions in the list are not ids
    for text in ["gone", "also gone", "alpha", "beta", "gamma"]:
        feed.publish(text)
    with recording_feed_server(feed, "check-00") as (server, seen):
        texts = call("00.2", new_texts, server.url, 3)
        expect(
            isinstance(texts, list),
            "00.2",
            f"new_texts() returned {type(texts).__name__} {texts!r}; expected a list of strings.",
            "build a list: [post['text'] for post in response.json()].",
        )
        expect(
            all(isinstance(t, str) for t in texts),
            "00.2",
            f"new_texts() returned {texts!r}: the items should be the texts, not whole posts "
            "or ids.",
            "take post['text'] from each post.",
        )
        asked = [request["query"].get("since") for request in seen]
        expect(
            "3" in asked,
            "00.2",
            f"the server was asked with since={asked[-1] if asked else None!r}, not since=3: "
            "the server should do the filtering, so a client downloads only what is new.",
            'pass the id as the "since" query parameter: params={"since": since}.',
        )
        expect(
            sorted(texts) != sorted(["beta", "gamma"]) or texts == ["beta", "gamma"],
            "00.2",
            f"new_texts() returned {texts!r}: the right posts, in the wrong order.",
            "keep the server's order: it sends the oldest first.",
        )
        expect(
            texts == ["beta", "gamma"],
            "00.2",
            f"new_texts(url, 3) returned {texts!r}; expected ['beta', 'gamma'], the posts whose "
            "id is greater than 3.",
            "return every post of the answer, not a slice of it: ids are not list positions.",
        )
        empty = call("00.2", new_texts, server.url, feed.last_id)
        expect(
            empty == [],
            "00.2",
            f"new_texts(url, {feed.last_id}) returned {empty!r}; nothing is newer than the "
            "last post, so expected [].",
        )
    passed("00.2", "new_texts() asked the server with since= and returned the newer texts.")
