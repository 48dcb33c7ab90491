"""Which pages may read the service's answers, or write with its cookie, from another origin
(lesson 14).

The course's feed answers every request with ``Access-Control-Allow-Origin: *``
(``servers.http``): its posts are public, and an answer with ``*`` is never shared with a page
whose request carried credentials (Fetch standard, "CORS protocol and credentials": with
credentials mode "include", ``Access-Control-Allow-Origin`` cannot be ``*``; the cookie may
still be sent, only the answer is withheld). The notification service has logins, so it names
the pages it answers instead: an ``Origin`` that lesson 12's WebSocket policy allows
(``servers.origins.refusal``: the exact allow-list, or by default a loopback page or the page
of a proxy in front of the service) gets that origin back, with ``Vary: Origin`` so no cache
hands one page's answer to another; any other page gets no CORS header, and its script cannot
read the answer. It sends no ``Access-Control-Allow-Credentials``, so even an allowed page of
another origin reads only answers to requests without cookies. The service's own page
(``GET /``) is same-origin and needs none of this.

Writing is the other half (cross-site request forgery). ``SameSite=Strict`` keeps the session
cookie off requests that pages of other *sites* start, but a site ignores ports: another app
on ``localhost:9999`` is the same site as the service on ``localhost:8000``, and a form or a
``fetch()`` there may ``POST`` with the cookie (RFC 6265bis, "same-site" requests).
``guard_cookie_writes`` refuses, with 403, a ``POST`` that carries the cookie and an
``Origin`` the same policy refuses, as the WebSocket handshake is refused (lesson 12). A
``POST`` with ``Authorization: Bearer`` needs no such check: no page can add that header to a
request of another origin without a preflight, which the service never answers.
"""

from __future__ import annotations

from aiohttp import web

from servers import origins
from servers.http import CORS_HEADERS, json_error, own_port
from servers.notify.auth import COOKIE


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


def guard_cookie_writes(app: web.Application, allowed: frozenset[str] | None) -> None:
    """403 for a ``POST`` sent with the session cookie by a page the ``Origin`` policy refuses."""

    @web.middleware
    async def same_origin_writes(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if (
            request.method == "POST"
            and origin is not None
            and COOKIE in request.cookies
            and "Authorization" not in request.headers
        ):
            why = origins.refusal(origin, allowed, host=request.host, own_port=own_port(request))
            if why:
                return json_error(403, f"a POST with the session cookie is refused: {why}")
        return await handler(request)

    app.middlewares.append(same_origin_writes)
