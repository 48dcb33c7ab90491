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

from servers import events, origins, polling, runtime, ws, ws_limits
from servers.feed.model import Feed
from servers.http import make_base_app
from servers.stalls import STALLS, WRITE_TIMEOUT, StallWatch

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
    max_message: int | None = ws_limits.MAX_MESSAGE,
    publish_rate: tuple[float, float] | None = (ws_limits.RATE, ws_limits.PER),
    sockets_per_address: int | None = None,
    head_timeout: float = runtime.HEAD_TIMEOUT,
    write_timeout: float = WRITE_TIMEOUT,
) -> web.Application:
    """The feed's HTTP app, one route per transport; CORS and JSON errors throughout.

    ``POST /posts`` and ``GET /posts?since=ID`` (lesson 00, ETag from lesson 01),
    ``GET /posts/wait?since=ID&timeout=S`` (lesson 02), holding a request at most
    ``max_wait`` seconds; ``GET /events`` (lesson 03), asking clients to wait ``retry_ms``
    before reconnecting and sending a heartbeat comment every ``heartbeat`` seconds of quiet;
    ``GET /ws`` (lessons 06-07), open to browsers from ``allowed_origins`` (default: any
    loopback origin).

    Lesson 12's limits, after OWASP's WebSocket Security Cheat Sheet (``servers.ws_limits``);
    each refusal says why:

    - ``allowed_origins``: an exact allow-list of serialized origins (``servers.origins``:
      ``"https://app.example"``, no path, no trailing slash). Any other ``Origin`` (a suffix or
      prefix trick, userinfo, another port, ``null``) gets 403 with ``{"error": why}``; no
      ``Origin`` at all (not a browser) is let through.
    - ``max_message``: bytes in one ``/ws`` message, 64 KiB by default (``None``: no limit).
      A larger one closes the socket with 1009 and the reason "message too big: ...".
    - ``publish_rate``: ``(messages, seconds)`` one socket may send, 100 a minute by default,
      a burst of as many at once (``None``: no limit). A message over it is dropped and
      answered ``{"error": "rate limit: ..."}``; after ten such answers in a row the next
      closes the socket with 1008 and the reason "policy violation: ...". Each socket has its
      own rate; a benchmark publishing thousands a second over one socket turns it off.
    - ``sockets_per_address``: open ``/ws`` sockets from one client address (default: no cap,
      lesson 08 opens a thousand from one address); past it, 429 saying so.
    - ``head_timeout``: seconds a connection may take to send a complete request head (a
      WebSocket handshake included), 20 by default; then it is closed, with no response
      (``servers.runtime.HEAD_TIMEOUT``: applied by ``servers.serve``).

    Lesson 11's ``write_timeout`` (``servers.stalls``, 10 s by default): an ``/events`` stream
    or ``/ws`` socket whose client acknowledges no byte for that many seconds while bytes wait
    for it (posts or heartbeats) is let go: the SSE response ends; the WebSocket is sent close
    code 4008 (``SLOW_CLOSE_CODE``, private use as RFC 6455 7.4.2 allows, after Centrifugo's
    3008 "slow"), and since a stalled peer never reads that frame, its TCP connection is reset
    a second later. The client comes back with its ``Last-Event-ID`` (or ``?since=``) and
    loses nothing the history still holds, or is told of the ``gap``. Streams get a bounded
    kernel send buffer, so a stall shows after about 0.2 MB instead of the 4 MB Linux lets a
    loopback socket absorb; ``app[STALLS].let_go_count`` counts the streams let go.
    """
    app = make_base_app()
    app[FEED] = feed if feed is not None else Feed()
    app[SOCKETS] = sockets = weakref.WeakSet()
    app[STALLS] = StallWatch(write_timeout)
    allowed = origins.allow_list(allowed_origins) if allowed_origins is not None else None
    rate, per = publish_rate if publish_rate is not None else (None, ws_limits.PER)
    limits = ws_limits.WSLimits(
        max_message=max_message, rate=rate, per=per, per_address=sockets_per_address
    )
    app[runtime.HEAD_TIMEOUT_KEY] = head_timeout
    app.add_routes(polling.routes(feed_of, max_wait=max_wait))
    options = events.EventOptions(retry_ms=retry_ms, heartbeat=heartbeat)
    app.add_routes(events.routes(feed_of, options))
    app.add_routes(ws.routes(feed_of, sockets, allowed, ws_limits.Guard(limits)))

    async def close_sockets(app: web.Application) -> None:
        await ws.close_all(app[SOCKETS])

    app.on_shutdown.append(close_sockets)
    return app
