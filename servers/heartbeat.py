"""An endless stream: ``GET /stream`` writes an SSE comment every ``interval`` seconds.

The simplest long-lived response there is. The runtime's tests and ``make bench`` attach many
of these to a server to show that ``Server.stop()`` does not wait for streams to end.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


def make_heartbeat_app(interval: float = 0.05) -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        while True:
            await response.write(b": heartbeat\n\n")
            await asyncio.sleep(interval)

    app = web.Application()
    app.router.add_get("/stream", stream)
    return app
