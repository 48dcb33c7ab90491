"""The feed over a WebSocket: ``GET /ws`` (lessons 06 and 07).

Each new post goes to every client as a JSON text message; a client may send
``{"text": ...}`` to publish. A malformed message gets ``{"error": ...}`` back and the
connection stays up. A browser's handshake is accepted only from an allowed ``Origin`` (by
default any loopback origin, where the learner's JupyterLab runs); clients that send no
``Origin`` (not browsers) are let through. Stopping the server closes every socket with 1001.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from servers.feed.model import Feed, PostNotTaken
from servers.http import compact_json, json_error, parse_post_id

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def origin_allowed(origin: str | None, allowed: frozenset[str] | None) -> bool:
    """No Origin (not a browser): yes. Else the allow-list, or by default any loopback origin."""
    if origin is None:
        return True
    if allowed is not None:
        return origin in allowed
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS | {"::1"}


def routes(
    feed_of: Callable[[web.Request], Feed],
    sockets: weakref.WeakSet,
    allowed_origins: frozenset[str] | None,
) -> list:
    """``GET /ws`` on the feed ``feed_of(request)``; each open socket is kept in ``sockets``
    (for ``close_all`` when the server stops)."""

    async def ws(request: web.Request) -> web.StreamResponse:
        return await websocket(request, feed_of(request), sockets, allowed_origins)

    return [web.get("/ws", ws)]


async def websocket(
    request: web.Request,
    feed: Feed,
    sockets: weakref.WeakSet,
    allowed_origins: frozenset[str] | None,
) -> web.StreamResponse:
    """``GET /ws``: posts down, ``{"text": ...}`` up, on one connection."""
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, allowed_origins):
        return json_error(403, f"Origin {origin!r} may not open this WebSocket")
    since = parse_post_id(request.query.get("since", str(feed.last_id)), "since")
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    sockets.add(ws)
    pushing = asyncio.ensure_future(_push_posts(ws, feed, since))
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _publish(ws, feed, message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_str(json.dumps({"error": "send JSON text, not binary"}))
    finally:
        sockets.discard(ws)  # closed: no longer held (a WeakSet drops it only when collected)
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
    return ws


async def _push_posts(ws: web.WebSocketResponse, feed: Feed, since: int) -> None:
    while not ws.closed:
        posts = await feed.wait_for_posts(since, 30.0, for_socket=True)
        for post in posts:
            await ws.send_str(compact_json(post))
            since = post["id"]


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
