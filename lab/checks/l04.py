"""Checks for exercise 04: an SSE handler whose Last-Event-ID replay survives a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from lab.checks.core import (
    CheckFailed,
    Crashes,
    expect,
    fail,
    passed,
    probe_handler,
    quiet_server_log,
    require_async,
    short,
)
from lab.clients import ClientLog, sse_listen
from lab.recording import record_requests
from servers import runtime, serve
from servers.feed import FEED, Feed
from servers.http import make_base_app
from servers.sse import EventParser
from servers.timing import scaled

MISSING_HEADER = "a header that may be missing is read with request.headers.get(name, default)."
MALFORMED_ID = (
    "treat an id that is not a number like no id at all: int(value) only when value.isdigit(), "
    "else start from feed.last_id."
)


def check_04_events_handler(handler: Callable[..., Any]) -> None:
    """Exercise 04.1: ``GET /events`` with replay after ``Last-Event-ID``, across a restart;
    a new client starts from the newest post; ``?lastEventId=`` resumes like the header."""
    require_async(
        "04.1",
        handler,
        "events_handler(request)",
        "write it as `async def events_handler(request):`.",
    )
    feed = _QuietFeed()
    probe = make_base_app()
    probe[FEED] = feed
    probe_handler("04.1", handler, probe, "/events")
    older = [feed.publish(text)["id"] for text in ["old one", "old two"]]
    records: list[list[dict]] = []
    crashes, hint = Crashes(), [MISSING_HEADER]
    guarded = crashes.guard(handler, letting=(ConnectionResetError,))

    def start_recorded(port: int = 0):
        app = make_base_app()
        app[FEED] = feed
        app.router.add_get("/events", guarded)
        records.append(record_requests(app))
        return serve(app, name="check-04", port=port)

    async def wait(condition: Callable[[], bool], what: str, log: ClientLog) -> None:
        deadline = asyncio.get_running_loop().time() + scaled(5)
        while True:
            crashes.raise_first("04.1", handler.__name__, hint[0])
            _fail_on_repeats(log)
            _fail_on_older(log, older)
            if condition():
                return
            if asyncio.get_running_loop().time() > deadline:
                raise _gave_up(what, log, records)
            await asyncio.sleep(0.01)

    server = start_recorded()
    port, url = server.port, server.url

    async def scenario() -> None:
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
                stop.set()  # the probes below, one client each, publish one more post
                await client
                received = [post_id for post_id, _, _ in log.arrivals]
                expect(
                    received == published,
                    "04.1",
                    f"across the restart the client received ids {short(received)}; expected "
                    f"{published}.",
                    "replay feed.since(last_event_id) first, then stream new posts, each with "
                    "`id: <id>`.",
                )
                await asyncio.to_thread(restarted.stop)  # its handlers end: none left waiting
                probing = await asyncio.to_thread(start_recorded)
                try:
                    hint[0] = MALFORMED_ID
                    await _starts_fresh_on_a_malformed_id(session, probing.url, feed, wait)
                    after = published[2]
                    missed = [post["id"] for post in feed.since(after)]
                    await _resumes_from_the_query(session, probing.url, after, missed)
                    await _sends_heartbeats(session, probing.url, feed)
                finally:
                    await asyncio.to_thread(probing.stop)
            finally:
                stop.set()
                await client

    try:
        with quiet_server_log():  # the check explains a crash itself, with the learner's line
            runtime.run(scenario(), timeout=scaled(60))  # works in a kernel too
    finally:
        server.stop()
    sent = [r["Last-Event-ID"] for r in records[1] if r["path"] == "/events"]
    passed(
        "04.1",
        f"a new client got only new posts; 6 posts across a restart, each once (the reconnection "
        f"sent Last-Event-ID {sent[0]!r}); ?lastEventId= resumed a client that cannot set "
        "headers; a malformed id started afresh; a quiet stream sent heartbeats.",
    )


class _QuietFeed(Feed):
    """A feed whose waits can be cut short: what a handler does after 15 s of quiet, seen
    without waiting 15 s."""

    quiet_after: float | None = None

    async def wait_for_posts(self, since: int, timeout: float) -> list[dict]:
        cap = self.quiet_after
        return await super().wait_for_posts(since, timeout if cap is None else min(timeout, cap))


async def _sends_heartbeats(session, url: str, feed: _QuietFeed) -> None:
    feed.quiet_after, received = 0.05, b""
    try:
        timeout = aiohttp.ClientTimeout(total=scaled(1))
        async with session.get(url + "/events", timeout=timeout) as response:
            async for chunk in response.content.iter_any():
                received += chunk
                if received.count(b"\n:") + received.startswith(b":") >= 3:
                    return
    except (TimeoutError, aiohttp.ClientError):
        pass
    finally:
        feed.quiet_after = None
    raise fail(
        "04.1",
        "a quiet stream got no heartbeat: with no post published, the check made each "
        "feed.wait_for_posts(last, 15) return [] after 0.05 s instead of 15 s, and the stream "
        f"sent {short(received)}. A stream that stays silent is cut by a proxy's or a NAT's "
        "idle timeout (lesson 09), and the server never notices a client that vanished.",
        'when wait_for_posts returns [], write a comment, await response.write(b":\\n\\n"), '
        "and keep waiting.",
    )


async def _post_ids(session, url: str, count: int, **request: Any) -> tuple[int, list[int]]:
    """Open one ``GET /events`` (``request``: headers, params): its status, and the post ids of
    its first ``count`` events, or of those that came within a few seconds."""
    ids: list[int] = []
    parser = EventParser()
    try:
        timeout = aiohttp.ClientTimeout(total=scaled(3))
        async with session.get(url + "/events", timeout=timeout, **request) as response:
            if response.status != 200:
                return response.status, ids
            expect(
                response.content_type == "text/event-stream",
                "04.1",
                f"the stream answered Content-Type: {response.content_type}; a browser's "
                "EventSource fails the connection unless it is text/event-stream (HTML "
                "standard, 9.2: it then never reconnects either).",
                'web.StreamResponse(headers={"Content-Type": "text/event-stream", ...}).',
            )
            async for chunk in response.content.iter_any():
                for event in parser.feed(chunk):
                    ids += [json.loads(event.data)["id"]] if event.type == "message" else []
                if len(ids) >= count:
                    break
    except (TimeoutError, aiohttp.ClientError):
        pass
    return 200, ids


async def _resumes_from_the_query(session, url: str, after: int, missed: list[int]) -> None:
    status, ids = await _post_ids(session, url, len(missed), params={"lastEventId": str(after)})
    expect(
        (status, ids) == (200, missed),
        "04.1",
        f"a new client that sent ?lastEventId={after} (no Last-Event-ID header: a page opening a "
        f"fresh EventSource cannot set one) got status {status} and posts {short(ids)}; "
        f"expected the posts after {after}, {missed}, at once.",
        'with no Last-Event-ID header, read the query: request.query.get("lastEventId").',
    )


async def _starts_fresh_on_a_malformed_id(session, url: str, feed: Feed, wait) -> None:
    streams = feed.waiting
    reading = asyncio.ensure_future(_post_ids(session, url, 1, headers={"Last-Event-ID": "banana"}))
    try:
        await wait(
            lambda: feed.waiting > streams or reading.done(),
            "a stream after a malformed Last-Event-ID",
            ClientLog(),
        )
        newest = feed.publish("seven")["id"]
        status, ids = await reading
    finally:
        reading.cancel()
    expect(
        (status, ids) == (200, [newest]),
        "04.1",
        f"a client that sent Last-Event-ID: banana got status {status} and posts {short(ids)}; "
        f"expected the stream to start from the newest post, then post {newest}.",
        MALFORMED_ID,
    )


def _fail_on_older(log: ClientLog, older: list[int]) -> None:
    old = [post_id for post_id, _, _ in log.arrivals if post_id in older]
    if old:
        raise fail(
            "04.1",
            f"a new client (no Last-Event-ID, no lastEventId) received post(s) {short(old)}, "
            "published before it connected: a new client starts from the newest post, as "
            "EventSource users expect (it would otherwise replay the whole history).",
            "with neither the header nor the query parameter, start from last = feed.last_id, "
            "not from 0.",
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
