"""The feed as Server-Sent Events: ``GET /events`` (lessons 03 to 05).

One response that never ends: each post becomes an event whose ``id`` is the post's id and
whose ``data`` is the post's JSON. A client that reconnects with ``Last-Event-ID`` (the header
a browser's ``EventSource`` sends, or the ``lastEventId`` query parameter for clients that
cannot set headers) gets every post it missed first. A quiet stream carries a comment every
``heartbeat`` seconds, so proxies and clients can tell a quiet stream from a dead one. A stream
whose client accepts no write for ``write_timeout`` seconds is let go (lesson 11,
``servers.stalls``): the response ends, and the client resumes from its last id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from servers.fanout import SSE_BARE, SSE_CHUNKED, Hubs, Stream, missed, pieces, post_event
from servers.feed.model import Feed
from servers.http import parse_post_id
from servers.sse import encode_event
from servers.stalls import unwatch, watch_stream

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store, no-transform",  # RFC 9111 5.2.2.5-6: never stored nor altered
    "X-Accel-Buffering": "no",  # nginx: pass each event on at once instead of buffering
}


RETRY_MS = 3000
"""The feed's default ``retry:``, in milliseconds (every default below reads these two)."""
HEARTBEAT = 15.0
"""The feed's default seconds of quiet before a heartbeat comment."""


@dataclass(frozen=True)
class EventOptions:
    retry_ms: int = RETRY_MS
    """Sent as ``retry:``: how long a disconnected browser waits before reconnecting."""
    heartbeat: float = HEARTBEAT
    """Seconds of quiet before a comment line is sent."""


def routes(feed_of: Callable[[web.Request], Feed], options: EventOptions) -> list:
    """``GET /events`` on the feed ``feed_of(request)`` (looked up per request), its posts
    written by one broadcaster per feed (``servers.fanout``, lesson 11)."""
    hubs = Hubs(options.heartbeat)

    async def events(request: web.Request) -> web.StreamResponse:
        return await stream_events(request, feed_of(request), options, hubs)

    return [web.get("/events", events)]


async def stream_events(
    request: web.Request, feed: Feed, options: EventOptions, hubs: Hubs | None = None
) -> web.StreamResponse:
    """``GET /events``: replay after ``Last-Event-ID``, then every new post, until the client
    goes away, the server stops, or the client accepts no write for the app's
    ``write_timeout`` (``servers.stalls``): then its connection is let go and this handler
    is cancelled. The posts come from ``hubs``' broadcaster for ``feed`` (``servers.fanout``)
    while the client keeps up, from this handler's own awaited writes while it catches up."""
    response = web.StreamResponse(headers=HEADERS)
    now = feed.last_id  # "from now" for a new client: before its headers can tell it we are here
    try:
        await response.prepare(request)
    except ConnectionResetError:
        return response  # the client left before its headers went out: nothing to log
    key = watch_stream(request, cancel=True)
    try:
        await response.write(f"retry: {options.retry_ms}\n\n".encode())
        last_seen = await _resume_point(request, response, feed, now)
        chunked = response.headers.get("Transfer-Encoding", "").lower() == "chunked"
        stream = Stream(request.transport, SSE_CHUNKED if chunked else SSE_BARE, last_seen)
        hub = (hubs or Hubs(options.heartbeat)).of(feed)

        async def catch_up(stream: Stream, upto: int) -> None:
            posts = [post for post in feed.since(stream.cursor) if post["id"] <= upto]
            gap = missed(feed, stream.cursor, posts)
            if gap:
                await response.write(gap)
            for piece in pieces(posts, post_event):  # awaited: drained as it goes
                await response.write(piece)
            stream.cursor = upto

        await hub.serve(stream, catch_up)
    except ConnectionResetError:
        pass  # the client went away mid-write
    finally:
        unwatch(request, key)
    return response


async def _resume_point(
    request: web.Request, response: web.StreamResponse, feed: Feed, now: int
) -> int:
    """Where to resume, telling the client when it cannot be where it left off.

    A new client (no id) starts from ``now``, the newest id when its request was handled,
    before its headers went out: a post made once the client has its headers reaches it.
    A client whose id is older than the history holds gets a ``gap`` event before the posts
    still held (written with them, ``missed``). An id that is not a post id, or one ahead of
    the feed (the server restarted with a new feed; on a backplane, once ``feed.lags`` seconds
    have not brought the relay up to it), gets a ``reset`` event saying why and
    where the stream resumes; the stream goes on either way.
    """
    value = request.headers.get("Last-Event-ID", request.query.get("lastEventId", ""))
    if value == "":
        return now
    try:
        last_seen = parse_post_id(value, "Last-Event-ID")
    except web.HTTPBadRequest as error:
        return await _reset(response, error.text + "; resuming with new posts", feed.last_id)
    if last_seen > feed.last_id:
        await _catch_up(feed, last_seen)
    if last_seen > feed.last_id:
        reason = (
            f"Last-Event-ID {last_seen} is newer than the newest post ({feed.last_id}): "
            "the feed was restarted; resuming from its first post"
        )
        return await _reset(response, reason, 0)
    return last_seen


async def _catch_up(feed: Feed, post_id: int) -> None:
    """Wait up to ``feed.lags`` seconds for ``feed`` to hold ``post_id`` (a backplane's relay
    trailing the broker: the client got the post from a quicker backend)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + feed.lags
    while feed.last_id < post_id and (left := deadline - loop.time()) > 0:
        await feed.wait_for_posts(feed.last_id, left)


async def _reset(response: web.StreamResponse, reason: str, resume_after: int) -> int:
    notice = {"reason": reason, "resume_after": resume_after}
    await response.write(encode_event(json.dumps(notice), event="reset"))
    return resume_after
