"""Checks for exercise 02: a long-poll handler, and a client loop that loses nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from lab.checks.core import (
    CheckFailed,
    Crashes,
    call,
    expect,
    fail,
    passed,
    probe_handler,
    quiet_server_log,
    recording_feed_server,
    require_async,
    short,
)
from servers import serve
from servers.feed import FEED, Feed
from servers.http import make_base_app
from servers.timing import scaled, wait_until

WAIT = 3.0
"""Seconds (scaled) the check asks a long poll to wait when it measures the wait."""
_TO_400 = (
    'check the parameters before waiting, and answer web.json_response({"error": "..."}, '
    "status=400)."
)
_FINITE = (
    "`nan < 0` is False and `min(nan, 30)` is nan, a wait that never ends; `min(inf, 30)` is "
    "30: refuse both before waiting, as the course's server does: `if not math.isfinite("
    "timeout) or timeout < 0:` answer 400."
)
_BAD = [  # each with nothing new to answer (since= the newest id), so a wait would show
    ({"since": "abc"}, _TO_400),
    ({"since": "-1"}, _TO_400),
    ({"timeout": "soon"}, _TO_400),
    ({"timeout": "-5"}, _TO_400),
    ({"timeout": "nan"}, _FINITE),
    ({"timeout": "inf"}, _FINITE),
]


def check_02_handler(handler: Callable[..., Any]) -> None:
    """Exercise 02.1: an aiohttp handler for ``GET /posts/wait?since=ID&timeout=S``."""
    require_async(
        "02.1",
        handler,
        "long_poll_handler(request)",
        "aiohttp awaits handlers: `async def long_poll_handler(request): ...`.",
    )
    feed = Feed()
    for text in ["one", "two", "three"]:
        feed.publish(text)
    app = make_base_app()
    app[FEED] = feed
    crashes = Crashes()
    app.router.add_get("/posts/wait", crashes.guard_handler(handler))
    probe_handler("02.1", handler, app, "/posts/wait?since=1&timeout=0")
    with quiet_server_log(), serve(app, name="check-02") as server, httpx.Client() as client:
        url = server.url + "/posts/wait"

        def get(within: float = scaled(WAIT + 1), hint: str | None = None, **params):
            try:
                response = client.get(url, params=params, timeout=within)
            except httpx.TimeoutException:
                raise fail(
                    "02.1",
                    f"GET /posts/wait?{_query(params)} got no answer within {within:g} s.",
                    hint
                    or "await feed.wait_for_posts(since, timeout) with the request's own timeout.",
                ) from None
            if response.status_code == 500:
                raise _crashed(params, crashes)
            return response

        _answers_at_once(get)
        _waits_and_wakes(get, feed)
        for params, hint in _BAD:
            bad = get(scaled(2), hint, **{"since": feed.last_id, **params})
            expect(
                bad.status_code == 400 and "error" in (_json(bad) or {}),
                "02.1",
                f'{_query(params)} should get 400 with a JSON {{"error": ...}}; got '
                f"{bad.status_code} {bad.text[:80]!r}.",
                hint,
            )
        _stays_free_while_waiting(server, get, feed, crashes)
    passed("02.1", "answers at once, waits, wakes on a post, says 204 and 400 when it should.")


def _answers_at_once(get) -> None:
    ready = get(since=1, timeout=3)
    expect(
        ready.status_code == 200 and [p["text"] for p in ready.json()] == ["two", "three"],
        "02.1",
        f"with posts newer than since=1 already there, expected 200 and the posts 'two' and "
        f"'three' at once; got {ready.status_code} {ready.text[:120]!r}.",
        "read since from request.query and pass it to feed.wait_for_posts.",
    )


def _waits_and_wakes(get, feed: Feed) -> None:
    started = time.monotonic()
    empty = get(since=3, timeout=0.2)
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
    woken = get(since=3, timeout=scaled(WAIT))
    expect(
        woken.status_code == 200 and [p["text"] for p in woken.json()] == ["four"],
        "02.1",
        f"a post published during the wait should answer it; got {woken.status_code} "
        f"{woken.text[:80]!r}.",
    )
    expect(
        time.monotonic() - started < scaled(1.5),
        "02.1",
        f"a post published 0.2 s into a {scaled(WAIT):g} s wait was answered only when the time "
        "ran out: the handler was not woken by the post.",
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
    clamped = get(since=1, timeout=1000)
    expect(
        clamped.status_code == 200,
        "02.1",
        f"timeout=1000 got {clamped.status_code} {clamped.text[:80]!r}: a larger finite value is "
        "clamped to 30 (as the course's server does), not refused.",
        "wait min(timeout, 30) seconds.",
    )


def _stays_free_while_waiting(server, get, feed: Feed, crashes: Crashes) -> None:
    """One request parked on a raw socket; the server must answer another meanwhile."""
    try:
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(
                f"GET /posts/wait?since={feed.last_id}&timeout={scaled(WAIT):g} HTTP/1.1\r\n"
                "Host: check\r\n\r\n".encode()
            )
            wait_until(lambda: bool(crashes.running), WAIT, "the request to reach the handler")
            started = time.monotonic()
            get(since=1, timeout=0)
            took = time.monotonic() - started
            expect(
                took < scaled(1),
                "02.1",
                f"while one request waited, another whose posts were ready took {took:.1f} s to "
                "be answered: the waiting handler froze the whole server (a blocking call, "
                "such as time.sleep, stops the event loop every request shares).",
                "wait with `await feed.wait_for_posts(since, timeout)`, never time.sleep.",
            )
            wait_until(lambda: feed.waiting == 1, 3, "the request to be parked")
    except TimeoutError:
        raise fail(
            "02.1",
            "a request with nothing new to answer never reached feed.wait_for_posts.",
            "wait with `await feed.wait_for_posts(...)`; a blocking call such as time.sleep "
            "freezes the whole server instead.",
        ) from None
    wait_until(lambda: feed.waiting == 0, 3, "the server to notice the client left")


_HINTS_500 = {
    KeyError: 'a parameter the client may leave out is read with request.query.get("since", '
    '"0") (and "timeout", "25").',
    ValueError: "int() and float() raise ValueError on text that is not a number: catch it and "
    'answer web.json_response({"error": "..."}, status=400).',
}


def _crashed(params: dict, crashes: Crashes) -> CheckFailed:
    """The failure for a 500: the learner's exception and line, or a missing ``return``."""
    asked = f"GET /posts/wait?{_query(params)} answered 500"
    if not crashes:
        return fail("02.1", f"{asked} Internal Server Error.")
    error = crashes[-1]
    hint = _HINTS_500.get(type(error), "run the handler's steps one by one in a cell.")
    return crashes.failure("02.1", "long_poll_handler", hint, error=error, before=asked + ": ")


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


def _json(response: httpx.Response) -> Any:
    """The parsed body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _query(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())
