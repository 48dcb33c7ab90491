"""The feed over a WebSocket: ``GET /ws`` (lessons 06 and 07).

Each new post goes to every client as a JSON text message; a client may send
``{"text": ...}`` to publish. A malformed message gets ``{"error": ...}`` back and the
connection stays up. A browser's handshake is accepted only from an allowed ``Origin``
(``servers.origins``: by default any loopback origin, where the learner's JupyterLab runs;
403 saying why otherwise); clients that send no ``Origin`` (not browsers) are let through.
Lesson 12's limits (``servers.ws_limits``) bound each message (1009) and each connection's
rate (an in-band error, then 1008). Stopping the server closes every socket with 1001.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web

from servers import origins
from servers.fanout import WEBSOCKET, Hub, Hubs, Stream
from servers.feed.model import Feed, PostNotTaken
from servers.http import compact_json, json_error, own_port, parse_post_id
from servers.stalls import SLOW_FAREWELL, unwatch, watch_stream
from servers.ws_limits import Guard


def origin_allowed(origin: str | None, allowed: frozenset[str] | None) -> bool:
    """No Origin (not a browser): yes. Else the exact allow-list, or by default any loopback
    origin (``servers.origins.refusal`` says why not)."""
    return origins.refusal(origin, allowed) is None


def routes(
    feed_of: Callable[[web.Request], Feed],
    sockets: weakref.WeakSet,
    allowed_origins: frozenset[str] | None,
    guard: Guard | None = None,
) -> list:
    """``GET /ws`` on the feed ``feed_of(request)``; each open socket is kept in ``sockets``
    (for ``close_all`` when the server stops); ``guard`` holds lesson 12's limits."""
    guard = guard or Guard()
    hubs = Hubs()  # lesson 11: one broadcaster per feed writes each post to every socket

    async def ws(request: web.Request) -> web.StreamResponse:
        return await websocket(request, feed_of(request), sockets, allowed_origins, guard, hubs)

    return [web.get("/ws", ws)]


async def websocket(
    request: web.Request,
    feed: Feed,
    sockets: weakref.WeakSet,
    allowed_origins: frozenset[str] | None,
    guard: Guard,
    hubs: Hubs | None = None,
) -> web.StreamResponse:
    """``GET /ws``: posts down, ``{"text": ...}`` up, on one connection."""
    refused = origins.refusal(
        request.headers.get("Origin"),
        allowed_origins,
        host=request.host,
        own_port=own_port(request),
    )
    if refused is not None:
        return json_error(403, f"this WebSocket refuses the handshake: {refused}")
    address = request.remote or ""
    if (too_many := guard.address_refusal(address)) is not None:
        return json_error(429, too_many)
    since = parse_post_id(request.query.get("since", str(feed.last_id)), "since")
    ws = guard.websocket(heartbeat=20.0)
    await ws.prepare(request)
    key = watch_stream(request, SLOW_FAREWELL)  # lesson 11: a stalled socket is let go, 4008
    sockets.add(ws)
    guard.opened(address)
    hub = hubs.of(feed) if hubs is not None else None
    pushing = asyncio.ensure_future(_push_posts(ws, feed, since, hub, request.transport))
    try:
        await _receive(ws, feed, guard)
    finally:
        guard.closed(address)
        sockets.discard(ws)  # closed: no longer held (a WeakSet drops it only when collected)
        unwatch(request, key)
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
    return ws


async def _push_posts(
    ws: web.WebSocketResponse, feed: Feed, since: int, hub: Hub | None = None, transport=None
) -> None:
    """Every post after ``since`` to ``ws``: written by ``hub`` while the socket keeps up
    (lesson 11, ``servers.fanout``), else (a compressed socket: each frame its own) one by
    one with awaited sends."""
    if hub is not None and transport is not None and not ws.compress:

        async def catch_up(stream: Stream, upto: int) -> None:
            for post in feed.since(stream.cursor):
                if post["id"] > upto:
                    break
                await ws.send_str(compact_json(post))
            stream.cursor = upto

        stream = Stream(transport, WEBSOCKET, since, lambda: ws.closed or transport.is_closing())
        await hub.serve(stream, catch_up, for_socket=True)
        return
    while not ws.closed:
        posts = await feed.wait_for_posts(since, 30.0, for_socket=True)
        for post in posts:
            await ws.send_str(compact_json(post))
            since = post["id"]


async def _receive(ws: web.WebSocketResponse, feed: Feed, guard: Guard) -> None:
    """Every message the client sends, each charged to its rate first (lesson 12)."""
    throttle = guard.throttle()
    async for message in ws:
        if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        if (over := throttle.refusal()) is not None:
            if throttle.exhausted:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=throttle.close_reason())
                return
            await ws.send_str(json.dumps({"error": over}))
        elif message.type == WSMsgType.TEXT:
            await _publish(ws, feed, message.data)
        else:
            await ws.send_str(json.dumps({"error": "send JSON text, not binary"}))


async def _publish(ws: web.WebSocketResponse, feed: Feed, data: str) -> None:
    try:
        message = json.loads(data)
        if not isinstance(message, dict) or "text" not in message:
            raise ValueError('send {"text": "..."}')
        await feed.submit(message["text"])
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        await ws.send_str(json.dumps({"error": str(error)}))
    except PostNotTaken as error:  # a backplane that is down (lesson 10)
        await ws.send_str(json.dumps({"error": str(error)}))


async def close_all(sockets: weakref.WeakSet) -> None:
    """Close every socket in ``sockets`` with 1001 (going away): the server is stopping."""
    for ws in list(sockets):
        await ws.close(code=1001, message=b"server shutting down")

