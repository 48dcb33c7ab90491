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
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from servers.feed import FEED, Feed, parse_post_id
from servers.http import compact_json, json_error

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
ORIGINS = web.AppKey("ws_origins", object)
SOCKETS = web.AppKey("ws_sockets", weakref.WeakSet)


def origin_allowed(origin: str | None, allowed: frozenset[str] | None) -> bool:
    """No Origin (not a browser): yes. Else the allow-list, or by default any loopback origin."""
    if origin is None:
        return True
    if allowed is not None:
        return origin in allowed
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS | {"::1"}


def setup(app: web.Application, allowed_origins: frozenset[str] | None) -> None:
    """Add ``/ws`` to the feed's app, and close its sockets with 1001 when the server stops."""
    app[ORIGINS] = allowed_origins
    app[SOCKETS] = weakref.WeakSet()
    app.router.add_get("/ws", websocket)
    app.on_shutdown.append(_close_all)


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: posts down, ``{"text": ...}`` up, on one connection."""
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, request.app[ORIGINS]):
        return json_error(403, f"Origin {origin!r} may not open this WebSocket")
    feed: Feed = request.app[FEED]
    since = parse_post_id(request.query.get("since", str(feed.last_id)), "since")
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    pushing = asyncio.ensure_future(_push_posts(ws, feed, since))
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _publish(ws, feed, message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_str(json.dumps({"error": "send JSON text, not binary"}))
    finally:
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
    return ws


async def _push_posts(ws: web.WebSocketResponse, feed: Feed, since: int) -> None:
    while not ws.closed:
        posts = await feed.wait_for_posts(since, 30.0)
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
    except web.HTTPException as error:  # a backplane that is down (lesson 10)
        await ws.send_str(json.dumps({"error": error.text}))


async def _close_all(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=1001, message=b"server shutting down")
