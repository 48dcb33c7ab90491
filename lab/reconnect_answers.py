"""A stream that ends, then answers every reconnection with one status (lesson 04 introduces it).

``ends_then(status)`` is an app whose first ``GET /events`` streams one event and ends (after
``retry: 250``, so a browser comes back a quarter of a second later); every later request gets
``status`` — a 200 streams the same again, anything else is sent with an empty body. Its
``app[REQUESTS]`` holds the time of each request. ``reconnections(page, app, url)`` opens an
``EventSource`` on ``url`` in a Chromium page and waits until the browser gives up or has come
back a few times, so a lesson can show which answers make a browser stop reconnecting.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from servers.sse import encode_event
from servers.timing import scaled

READY_STATES = ("connecting", "open", "closed")
"""``EventSource.readyState`` 0, 1 and 2 (WHATWG HTML, server-sent events)."""

REQUESTS = web.AppKey("requests", list)


def ends_then(status: int, retry_ms: int = 250) -> web.Application:
    """The app: one event then the end on the first request, ``status`` on every later one."""

    async def events(request: web.Request) -> web.StreamResponse:
        request.app[REQUESTS].append(time.monotonic())
        headers = {"Content-Type": "text/event-stream", "Access-Control-Allow-Origin": "*"}
        if len(request.app[REQUESTS]) > 1 and status != 200:
            return web.Response(status=status, headers=headers)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        count = len(request.app[REQUESTS])
        await response.write(f"retry: {retry_ms}\n\n".encode() + encode_event("hi", id=count))
        return response

    app = web.Application()
    app[REQUESTS] = []
    app.router.add_get("/events", events)
    return app


async def reconnections(page, app: web.Application, url: str, enough: int = 4) -> tuple[str, int]:
    """Open an ``EventSource`` on ``url`` (served by ``app``) in ``page``; once the browser gave
    up (``readyState`` closed) or ``app`` got ``enough`` requests, close it and return its state
    by name and the number of requests."""
    await page.evaluate("url => { window.probe = new EventSource(url); }", url)
    deadline = time.monotonic() + scaled(10)
    while (state := await page.evaluate("window.probe.readyState")) != 2:
        if len(app[REQUESTS]) >= enough:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: neither closed nor {enough} requests after {scaled(10)} s")
        await asyncio.sleep(0.05)
    await page.evaluate("window.probe.close()")
    return READY_STATES[state], len(app[REQUESTS])
