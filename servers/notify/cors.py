"""Which pages may read the service's answers from another origin: CORS by allow-list (lesson 14).

The course's feed answers every request with ``Access-Control-Allow-Origin: *``
(``servers.http``): its posts are public, and ``*`` never lets a browser send cookies along
(Fetch standard, "CORS protocol and credentials"). The notification service has logins, so it
names the pages it answers instead: an ``Origin`` that lesson 12's WebSocket policy allows
(``servers.origins.refusal``: the exact allow-list, or by default a loopback page or the page
of a proxy in front of the service) gets that origin back, with ``Vary: Origin`` so no cache
hands one page's answer to another; any other page gets no CORS header, and its script cannot
read the answer. The service's own page (``GET /``) is same-origin and needs none of this.
"""

from __future__ import annotations

from aiohttp import web

from servers import origins
from servers.http import CORS_HEADERS, own_port


def allow_origins(app: web.Application, allowed: frozenset[str] | None) -> None:
    """Answer the pages ``allowed`` names (None: lesson 12's default policy) across origins."""

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is None or response.status == 101:  # no page asked; or a WebSocket
            return
        response.headers.add("Vary", "Origin")
        if origins.refusal(origin, allowed, host=request.host, own_port=own_port(request)):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_HEADERS[
            "Access-Control-Expose-Headers"
        ]

    app.on_response_prepare.append(add_headers)
