"""Checks for exercise 04: an SSE handler whose Last-Event-ID replay survives a restart."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import make_mocked_request

from lab.checks.core import expect, fail, not_written, passed
from lab.clients import ClientLog, sse_listen
from lab.recording import record_requests
from lab.timing import scaled, wait_until
from servers import runtime, serve
from servers.feed import FEED, Feed
from servers.http import make_base_app


def check_04_events_handler(handler: Callable[..., Any]) -> None:
    """Exercise 04.1: ``GET /events`` with replay after ``Last-Event-ID``, across a restart."""
    expect(
        inspect.iscoroutinefunction(handler),
        "04.1",
        "the handler must be an `async def` function that takes the request.",
    )
    feed = Feed()
    _probe(handler, feed)
    records: list[list[dict]] = []

    def start_recorded(port: int = 0):
        app = make_base_app()
        app[FEED] = feed
        app.router.add_get("/events", handler)
        records.append(record_requests(app))
        return serve(app, name="check-04", port=port)

    server = start_recorded()
    port, url = server.port, server.url

    async def scenario() -> tuple[ClientLog, list[int]]:
        stop, log = asyncio.Event(), ClientLog()
        async with aiohttp.ClientSession() as session:
            client = asyncio.ensure_future(
                sse_listen(session, url, stop=stop, log=log, reconnect_delay=0.1)
            )
            published: list[int] = []
            try:
                await _wait(lambda: feed.waiting == 1, "the stream to wait for posts", log)
                for text in ["one", "two"]:
                    published.append(feed.publish(text)["id"])
                await _wait(lambda: log.last_id == published[-1], "posts one and two", log)
                await asyncio.to_thread(server.stop)
                published += [feed.publish(t)["id"] for t in ["three", "four", "five"]]
                restarted = await asyncio.to_thread(start_recorded, port)
                await _wait(lambda: log.last_id == published[-1], "the missed posts", log)
                published.append(feed.publish("six")["id"])
                await _wait(lambda: log.last_id == published[-1], "post six", log)
                await asyncio.to_thread(restarted.stop)
            finally:
                stop.set()
                await client
        return log, published

    try:
        log, published = runtime.run(scenario(), timeout=scaled(60))  # works in a kernel too
    finally:
        server.stop()
    received = [post_id for post_id, _, _ in log.arrivals]
    expect(
        received == published,
        "04.1",
        f"across the restart the client received ids {received}; expected {published}.",
        "replay feed.since(last_event_id) first, then stream new posts, each with `id: <id>`.",
    )
    sent = [r["Last-Event-ID"] for r in records[-1] if r["path"] == "/events"]
    passed(
        "04.1",
        f"6 posts across a restart, each once; the reconnection sent Last-Event-ID {sent[0]!r}.",
    )


def _probe(handler: Callable[..., Any], feed: Feed) -> None:
    """Call the handler once on a fake request to tell "not written" from other faults."""
    app = make_base_app()
    app[FEED] = feed
    request = make_mocked_request("GET", "/events", app=app)
    try:
        runtime.run(asyncio.wait_for(handler(request), 0.5), timeout=5)
    except NotImplementedError:
        raise not_written("04.1", handler.__name__) from None
    except Exception:
        pass  # a fake request cannot stream; the real check below says what is wrong


async def _wait(condition: Callable[[], bool], what: str, log: ClientLog) -> None:
    try:
        await asyncio.to_thread(wait_until, condition, 5, what)
    except TimeoutError:
        got = [post_id for post_id, _, _ in log.arrivals]
        raise fail(
            "04.1",
            f"gave up waiting for {what} after {scaled(5):g} s; the client had received ids "
            f"{got} over {log.requests} connection(s).",
            "write each event as `id: <post id>`, `data: <json>`, blank line, and await "
            "response.write(...) for each; read Last-Event-ID from request.headers (or the "
            "lastEventId query parameter) and replay feed.since(that id) first.",
        ) from None
