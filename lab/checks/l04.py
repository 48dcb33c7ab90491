"""Checks for exercise 04: an SSE handler whose Last-Event-ID replay survives a restart."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable
from typing import Any

import aiohttp

from lab.checks.core import CheckFailed, expect, fail, passed, probe_handler, short
from lab.clients import ClientLog, sse_listen
from lab.recording import record_requests
from servers import runtime, serve
from servers.feed import FEED, Feed
from servers.http import make_base_app
from servers.timing import scaled


def check_04_events_handler(handler: Callable[..., Any]) -> None:
    """Exercise 04.1: ``GET /events`` with replay after ``Last-Event-ID``, across a restart."""
    expect(
        inspect.iscoroutinefunction(handler),
        "04.1",
        "the handler must be an `async def` function that takes the request.",
    )
    feed = Feed()
    probe = make_base_app()
    probe[FEED] = feed
    probe_handler("04.1", handler, probe, "/events")
    records: list[list[dict]] = []
    errors: list[BaseException] = []

    async def guarded(request):
        try:
            return await handler(request)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as error:
            errors.append(error)
            raise

    def start_recorded(port: int = 0):
        app = make_base_app()
        app[FEED] = feed
        app.router.add_get("/events", guarded)
        records.append(record_requests(app))
        return serve(app, name="check-04", port=port)

    async def wait(condition: Callable[[], bool], what: str, log: ClientLog) -> None:
        deadline = asyncio.get_running_loop().time() + scaled(5)
        while not condition():
            _fail_on_errors(errors)
            _fail_on_repeats(log)
            if asyncio.get_running_loop().time() > deadline:
                raise _gave_up(what, log, records)
            await asyncio.sleep(0.01)

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
                await wait(lambda: feed.waiting == 1, "the stream to wait for posts", log)
                for text in ["one", "two"]:
                    published.append(feed.publish(text)["id"])
                await wait(lambda: log.last_id == published[-1], "posts one and two", log)
                await asyncio.to_thread(server.stop)
                published.extend(feed.publish(t)["id"] for t in ["three", "four", "five"])
                restarted = await asyncio.to_thread(start_recorded, port)
                await wait(lambda: log.last_id == published[-1], "the missed posts", log)
                published.append(feed.publish("six")["id"])
                await wait(lambda: log.last_id == published[-1], "post six", log)
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
        f"across the restart the client received ids {short(received)}; expected {published}.",
        "replay feed.since(last_event_id) first, then stream new posts, each with `id: <id>`.",
    )
    sent = [r["Last-Event-ID"] for r in records[-1] if r["path"] == "/events"]
    passed(
        "04.1",
        f"6 posts across a restart, each once; the reconnection sent Last-Event-ID {sent[0]!r}.",
    )


def _fail_on_errors(errors: list[BaseException]) -> None:
    if errors:
        error = errors[0]
        frames = traceback.extract_tb(error.__traceback__)
        where = frames[-1] if frames else None
        at = f" (line {where.lineno}: {where.line})" if where else ""
        raise fail(
            "04.1",
            f"the handler raised {type(error).__name__}: {error}{at}.",
            "a header that may be missing is read with request.headers.get(name, default).",
        )


def _fail_on_repeats(log: ClientLog) -> None:
    ids = [post_id for post_id, _, _ in log.arrivals]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise fail(
            "04.1",
            f"the client received post(s) {short(repeated)} more than once (ids so far: "
            f"{short(ids)}).",
            "after writing posts, move your position on to the last id written.",
        )


def _gave_up(what: str, log: ClientLog, records: list[list[dict]]) -> CheckFailed:
    ids = [post_id for post_id, _, _ in log.arrivals]
    problem = f"gave up waiting for {what} after {scaled(5):g} s; the client had ids {short(ids)}"
    reconnections = [r["Last-Event-ID"] for r in (records[-1] if len(records) > 1 else [])]
    if what == "the missed posts" and reconnections and reconnections[0] is None:
        hint = (
            "the reconnection sent no Last-Event-ID, so the events carried no id: write "
            "`id: <post id>` in each event (encode_event(..., id=post['id']))."
        )
    elif what == "the missed posts" and reconnections:
        hint = (
            f"the reconnection sent Last-Event-ID: {reconnections[0]}, but the posts after "
            "it never came: start from that id, feed.wait_for_posts(that_id, ...) returns "
            "them at once."
        )
    else:
        hint = (
            "write each event as `id: <post id>`, `data: <json>`, a blank line, with "
            "await response.write(...)."
        )
    return fail("04.1", problem + ".", hint)
