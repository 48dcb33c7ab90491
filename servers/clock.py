"""The seed's first SSE example, ported to aiohttp: the server's time every few seconds.

Introduced in lesson 03, where its source is shown. ``GET /time`` streams
``data: <time>`` events, ``interval`` seconds apart, ``count`` of them (forever when ``None``),
after a ``retry:`` line when ``retry_ms`` is given.
``headers`` replaces the response headers, so a lesson can show what each one does; the
runtime's tests and ``make bench`` use the endless version as "a stream that never ends".
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store, no-transform",  # RFC 9111 5.2.2.5-6: never stored nor altered
    "Access-Control-Allow-Origin": "*",  # a notebook page on another origin may read it
}


def make_clock_app(
    interval: float = 2.0,
    count: int | None = None,
    headers: dict[str, str] | None = None,
    retry_ms: int | None = None,
) -> web.Application:
    async def stream_time(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS if headers is None else headers)
        await response.prepare(request)
        if retry_ms is not None:  # lesson 04: how long the browser waits before reconnecting
            await response.write(f"retry: {retry_ms}\n\n".encode())
        sent = 0
        while count is None or sent < count:
            sent += 1
            now = time.time()
            stamp = (
                time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
            )
            await response.write(f"id: {sent}\ndata: {stamp}\n\n".encode())
            if count is None or sent < count:
                await asyncio.sleep(interval)
        return response

    app = web.Application()
    app.router.add_get("/time", stream_time)
    return app
