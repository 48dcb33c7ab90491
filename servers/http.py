"""HTTP plumbing shared by the course's apps: JSON errors and CORS (lesson 00)."""

from __future__ import annotations

import json
from functools import partial

from aiohttp import web

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Last-Event-ID",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, If-None-Match, Last-Event-ID",
    "Access-Control-Max-Age": "600",
}


compact_json = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
"""JSON without optional spaces: every transport sends posts in exactly the same bytes."""


def json_error(status: int, message: str, **headers: str) -> web.Response:
    """A ``{"error": message}`` response: every error says what was wrong."""
    return web.json_response({"error": message}, status=status, headers=headers)


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 to raise from a handler; the middleware below turns it into JSON."""
    return web.HTTPBadRequest(reason="Bad Request", text=message)


def parse_post_id(value: str, field: str) -> int:
    """A post id from a query string or a header, or a 400 that says what was wrong."""
    try:
        post_id = int(value)
    except ValueError:
        raise bad_request(f'"{field}" must be a post id (a whole number), got {value!r}') from None
    if post_id < 0:
        raise bad_request(f'"{field}" must be 0 or more, got {post_id}')
    return post_id


@web.middleware
async def json_errors(request: web.Request, handler):
    """Turn aiohttp's HTTP errors (400, 404, 405, 413, ...) into JSON bodies."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        message = (
            error.text if error.text and error.text != f"{error.status}: {error.reason}" else None
        )
        headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow",)}
        return json_error(error.status, message or _default_message(request, error), **headers)


def _default_message(request: web.Request, error: web.HTTPException) -> str:
    if error.status == 404:
        return f"no route for {request.path}"
    if error.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return error.reason


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: every answer, streamed ones too, may be read cross-origin."""
    if request.path != "/ws":
        response.headers.update(CORS_HEADERS)


async def preflight(request: web.Request) -> web.Response:
    """Answer a browser's CORS preflight (OPTIONS) so it may POST JSON from another origin."""
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)


def make_base_app(*, cors: bool = True) -> web.Application:
    """An app with JSON errors and (``cors``) CORS for any page on every answer."""
    app = web.Application(middlewares=[json_errors])
    if cors:
        app.on_response_prepare.append(add_cors_headers)
    return app


def own_port(request: web.Request) -> int | None:
    """The port this server accepted the request on (lesson 12's proxy rule needs it)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if sockname else None
