"""Checks for exercise 02: a long-poll handler, and a client loop that loses nothing."""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from lab.checks.core import (
    CheckFailed,
    call,
    expect,
    fail,
    passed,
    probe_handler,
    recording_feed_server,
    short,
)
from servers import serve
from servers.feed import FEED, Feed
from servers.http import make_base_app
from servers.timing import scaled, wait_until


def check_02_handler(handler: Callable[..., Any]) -> None:
    """Exercise 02.1: an aiohttp handler for ``GET /posts/wait?since=ID&timeout=S``."""
    expect(
        inspect.iscoroutinefunction(handler),
        "02.1",
        "the handler must be an `async def` function that takes the request.",
        "aiohttp awaits handlers: `async def long_poll_handler(request): ...`.",
    )
    feed = Feed()
    for text in ["one", "two", "three"]:
        feed.publish(text)
    app = make_base_app()
    app[FEED] = feed
    app.router.add_get("/posts/wait", handler)
    probe_handler("02.1", handler, app, "/posts/wait?since=1&timeout=0")
    with serve(app, name="check-02") as server, httpx.Client(timeout=scaled(4)) as client:
        url = server.url + "/posts/wait"

        def get(**params):
            try:
                return client.get(url, params=params)
            except httpx.TimeoutException:
                raise fail(
                    "02.1",
                    f"GET /posts/wait?{_query(params)} got no answer within {scaled(4):g} s.",
                    "await feed.wait_for_posts(since, timeout) with the request's own timeout.",
                ) from None

        ready = get(since=1, timeout=3)
        _expect_500_free(ready)
        expect(
            ready.status_code == 200 and [p["text"] for p in ready.json()] == ["two", "three"],
            "02.1",
            f"with posts newer than since=1 already there, expected 200 and the posts 'two' and "
            f"'three' at once; got {ready.status_code} {ready.text[:120]!r}.",
            "read since from request.query and pass it to feed.wait_for_posts.",
        )
        started = time.monotonic()
        empty = get(since=3, timeout=0.2)
        _expect_500_free(empty)
        expect(
            empty.status_code == 204 and not empty.content,
            "02.1",
            f"when the wait ends with nothing new, answer 204 No Content with no body; got "
            f"{empty.status_code} {empty.text[:80]!r}.",
            "if the list is empty: return web.Response(status=204).",
        )
        expect(
            time.monotonic() - started >= 0.15,
            "02.1",
            "with timeout=0.2 and nothing new, the answer came before the 0.2 s were up.",
            'use the request\'s "timeout" parameter as the time to wait.',
        )
        threading.Timer(0.2, feed.publish, args=["four"]).start()
        started = time.monotonic()
        woken = get(since=3, timeout=3)
        expect(
            woken.status_code == 200 and [p["text"] for p in woken.json()] == ["four"],
            "02.1",
            f"a post published during the wait should answer it; got {woken.status_code} "
            f"{woken.text[:80]!r}.",
        )
        expect(
            time.monotonic() - started < scaled(1.5),
            "02.1",
            "a post published 0.2 s into a 3 s wait was answered only when the 3 s ran out: "
            "the handler was not woken by the post.",
            "await feed.wait_for_posts(since, timeout), which returns as soon as a post exists; "
            "asyncio.sleep or time.sleep cannot be woken.",
        )
        no_since = get(timeout=3)
        expect(
            no_since.status_code == 200 and len(_json(no_since) or []) == 4,
            "02.1",
            f"without a since parameter, expected every post at once (since defaults to 0); got "
            f"{no_since.status_code} {no_since.text[:80]!r}.",
            'request.query.get("since", "0")',
        )
        for params, what in [
            ({"since": "abc"}, "since=abc"),
            ({"since": "-1"}, "since=-1"),
            ({"since": 1, "timeout": "soon"}, "timeout=soon"),
            ({"since": 1, "timeout": "-5"}, "timeout=-5"),
        ]:
            bad = get(**params)
            expect(
                bad.status_code == 400 and "error" in (_json(bad) or {}),
                "02.1",
                f'{what} should get 400 with a JSON {{"error": ...}}; got {bad.status_code} '
                f"{bad.text[:80]!r}.",
                "check the parameters before waiting, and answer "
                'web.json_response({"error": "..."}, status=400).',
            )
        try:
            with socket.create_connection((server.host, server.port)) as sock:
                sock.sendall(b"GET /posts/wait?since=4&timeout=3 HTTP/1.1\r\nHost: check\r\n\r\n")
                wait_until(lambda: feed.waiting == 1, 3, "the request to be parked")
        except TimeoutError:
            raise fail(
                "02.1",
                "a request with nothing new to answer never reached feed.wait_for_posts.",
                "wait with `await feed.wait_for_posts(...)`; a blocking call such as time.sleep "
                "freezes the whole server instead.",
            ) from None
        wait_until(lambda: feed.waiting == 0, 3, "the server to notice the client left")
    passed("02.1", "answers at once, waits, wakes on a post, says 204 and 400 when it should.")


def check_02_follow(follow: Callable[..., Any]) -> None:
    """Exercise 02.2: ``follow(base_url, since, count)`` long-polls until it has ``count`` posts."""
    feed = Feed()
    feed.publish("old news")
    feed.publish("older news")
    published: list[dict] = []

    def publish_in_bursts_and_lulls():
        for pause, texts in [(0.3, ["a", "b", "c"]), (0.3, ["d"]), (1.2, ["e", "f"])]:
            time.sleep(pause)
            for text in texts:
                published.append(feed.publish(text))
                time.sleep(0.001)

    with recording_feed_server(feed, "check-02", max_wait=0.5) as (server, seen):
        publisher = threading.Thread(target=publish_in_bursts_and_lulls, daemon=True)
        publisher.start()
        result: dict[str, Any] = {}

        def run_follow():
            try:
                result["posts"] = call("02.2", follow, server.url, 2, 6)
            except CheckFailed as failure:
                result["failure"] = failure

        worker = threading.Thread(target=run_follow, daemon=True)
        try:
            worker.start()
            worker.join(scaled(15))
        finally:
            publisher.join()
        if "failure" in result:
            raise result["failure"]
        expect(
            not worker.is_alive(),
            "02.2",
            f"follow(url, 2, 6) had not returned {scaled(15):g} s after 6 posts were published.",
            "stop as soon as you hold `count` posts; on a 204, ask again with the same since.",
        )
        posts = result.get("posts")
        expect(
            isinstance(posts, list) and all(isinstance(p, dict) and "id" in p for p in posts),
            "02.2",
            f"follow() returned {short(posts)}; expected a list of posts (dicts with an id).",
            "collect the posts of each answer: received += response.json().",
        )
        ids = [p["id"] for p in posts]
        expect(
            ids == [p["id"] for p in published],
            "02.2",
            f"expected the posts with ids {[p['id'] for p in published]} in order; got {ids}.",
            "after each answer, set since to the id of the last post you received.",
        )
        paths = {request["path"] for request in seen}
        expect(
            paths == {"/posts/wait"},
            "02.2",
            f"follow() asked {sorted(paths)}; a long-polling client asks /posts/wait only.",
        )
        expect(
            all("timeout" in request["query"] for request in seen),
            "02.2",
            "some requests carried no timeout= parameter, so the server would hold them for its "
            "default 25 s, longer than httpx waits by default (5 s).",
            'send params={"since": since, "timeout": 25} and give httpx a longer timeout '
            "(httpx.get(..., timeout=35)).",
        )
        expect(
            len(seen) < 30,
            "02.2",
            f"follow() sent {len(seen)} requests for 6 posts in about 2 s: that is polling, not "
            "waiting.",
            'ask with params={"since": since, "timeout": 25} and let the server hold it.',
        )
    passed("02.2", f"6 posts in bursts and lulls, each once, in order, in {len(seen)} requests.")


def _expect_500_free(response: httpx.Response) -> None:
    expect(
        response.status_code != 500,
        "02.1",
        "the handler raised an exception (the server answered 500 Internal Server Error).",
        "run the handler's steps one by one in a cell to find the error.",
    )


def _json(response: httpx.Response) -> Any:
    """The parsed body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _query(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())
