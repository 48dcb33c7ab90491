"""Remember every request an app receives: when, what, and which headers (lessons 01 to 04).

``record_requests(app)`` adds a middleware and returns the list it appends to, so a lesson
or a check can see, for example, the ``Last-Event-ID`` a reconnecting browser sent.
"""

from __future__ import annotations

import time

from aiohttp import web

REMEMBERED_HEADERS = ("If-None-Match", "Last-Event-ID", "Origin")


def record_requests(app: web.Application) -> list[dict]:
    """Start recording ``app``'s requests (call before serving it); returns the record."""
    seen: list[dict] = []

    @web.middleware
    async def remember(request: web.Request, handler):
        seen.append(
            {
                "at": time.time(),
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                **{name: request.headers.get(name) for name in REMEMBERED_HEADERS},
            }
        )
        return await handler(request)

    app.middlewares.append(remember)
    return seen
