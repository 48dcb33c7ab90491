"""The feed's HTTP app, assembled from one route module per transport (lesson 00).

``make_app(feed)`` is the one place that knows every route module and owns the app's keys:
``FEED`` (the feed the routes serve, looked up per request, so lesson 10 can put an app on a
backplane by swapping it) and ``SOCKETS`` (the open WebSockets, closed with 1001 on stop).
The route modules (``servers.polling``, ``servers.events``, ``servers.ws``) import only the
model, ``servers.feed.model``; nothing below imports this module.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from aiohttp import web

from servers import events, polling, ws
from servers.feed.model import Feed
from servers.http import make_base_app

FEED = web.AppKey("feed", Feed)
SOCKETS = web.AppKey("ws_sockets", weakref.WeakSet)


def feed_of(request: web.Request) -> Feed:
    """The feed a request reads: the app's ``FEED``, whatever it is now."""
    return request.app[FEED]


def make_app(
    feed: Feed | None = None,
    *,
    max_wait: float = polling.MAX_WAIT,
    retry_ms: int = events.RETRY_MS,
    heartbeat: float = events.HEARTBEAT,
    allowed_origins: Iterable[str] | None = None,
) -> web.Application:
    """The feed's HTTP app, one route per transport; CORS and JSON errors throughout.

    ``POST /posts`` and ``GET /posts?since=ID`` (lesson 00, ETag from lesson 01),
    ``GET /posts/wait?since=ID&timeout=S`` (lesson 02), holding a request at most
    ``max_wait`` seconds; ``GET /events`` (lesson 03), asking clients to wait ``retry_ms``
    before reconnecting and sending a heartbeat comment every ``heartbeat`` seconds of quiet;
    ``GET /ws`` (lessons 06-07), open to browsers from ``allowed_origins`` (default: any
    loopback origin).
    """
    app = make_base_app()
    app[FEED] = feed if feed is not None else Feed()
    app[SOCKETS] = sockets = weakref.WeakSet()
    origins = frozenset(allowed_origins) if allowed_origins is not None else None
    app.add_routes(polling.routes(feed_of, max_wait=max_wait))
    options = events.EventOptions(retry_ms=retry_ms, heartbeat=heartbeat)
    app.add_routes(events.routes(feed_of, options))
    app.add_routes(ws.routes(feed_of, sockets, origins))

    async def close_sockets(app: web.Application) -> None:
        await ws.close_all(app[SOCKETS])

    app.on_shutdown.append(close_sockets)
    return app
