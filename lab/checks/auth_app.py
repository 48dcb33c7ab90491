"""The server exercise 12's checks run the learner's code in (lesson 12).

A private feed behind a one-time ticket and a session cookie, as lesson 12 builds it:
``POST /ticket`` issues a ticket (kept in the learner's ``tickets``: ticket → expiry time);
``GET /ws?ticket=...`` asks the learner's ``handshake_allowed(headers, query, now)`` and
answers 403 with its reason, or opens the socket and sends one private message;
``POST /login`` opens a session (kept in the learner's ``sessions``: session id → expiry) and
sets it as an HttpOnly cookie; ``GET /events`` asks ``stream_allowed(cookies, now)`` and
answers 401 with its reason, or streams one private event. Every ``/ws`` request line is kept
in ``log`` as an access log would keep it, so the check can replay a ticket read from it.
What the learner's function raises, or returns in the wrong shape, is kept in ``crashes``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from servers.http import json_error
from servers.sse import encode_event

TICKET_TTL = 30.0
"""Seconds a ticket stays good: long enough to open the socket, too short to be worth stealing."""
SESSION_TTL = 3600.0
PRIVATE = "a private post"
"""What a client that was let in receives, on the socket and on the stream."""


class BadAnswer(TypeError):
    """The learner's check returned something other than ``(allowed: bool, reason: str)``."""


@dataclass
class AuthApp:
    """The learner's two checks and the stores they read, served as one app."""

    handshake_allowed: Callable[..., Any] | None = None
    stream_allowed: Callable[..., Any] | None = None
    tickets: MutableMapping[str, float] = field(default_factory=dict)
    sessions: MutableMapping[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)

    def ask(self, check: Callable[..., Any], *arguments: Any) -> tuple[bool, str] | None:
        """The learner's ``(allowed, reason)``, or ``None`` after recording what went wrong."""
        try:
            answer = check(*arguments)
            return answer_of(answer)
        except Exception as error:
            self.crashes.append(error)
            return None

    async def ticket(self, request: web.Request) -> web.Response:
        ticket = secrets.token_urlsafe(16)
        self.tickets[ticket] = time.time() + TICKET_TTL
        return web.json_response({"ticket": ticket})

    async def ws(self, request: web.Request) -> web.StreamResponse:
        self.log.append(f'"GET {request.path_qs} HTTP/1.1" from {request.remote}')
        answer = self.ask(self.handshake_allowed, request.headers, request.query, time.time())
        if answer is None:
            return json_error(500, "handshake_allowed failed")
        allowed, reason = answer
        if not allowed:
            return json_error(403, reason)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(PRIVATE)
        await ws.close()
        return ws

    async def login(self, request: web.Request) -> web.Response:
        session = secrets.token_urlsafe(16)
        self.sessions[session] = time.time() + SESSION_TTL
        response = web.Response(status=204)
        response.set_cookie("session", session, httponly=True, samesite="Lax")
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        answer = self.ask(self.stream_allowed, request.cookies, time.time())
        if answer is None:
            return json_error(500, "stream_allowed failed")
        allowed, reason = answer
        if not allowed:
            return json_error(401, reason)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(encode_event(PRIVATE))
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/ticket", self.ticket),
                web.get("/ws", self.ws),
                web.post("/login", self.login),
                web.get("/events", self.events),
            ]
        )
        return app


def answer_of(answer: Any) -> tuple[bool, str]:
    """``answer`` as ``(allowed, reason)``, or ``BadAnswer`` saying what it was instead."""
    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool)):
        shown = repr(answer) if len(repr(answer)) < 60 else type(answer).__name__
        raise BadAnswer(f"returned {shown}, not a pair (allowed: bool, reason: str)")
    allowed, reason = answer
    if not allowed and not (isinstance(reason, str) and reason.strip()):
        raise BadAnswer(f"refused with the reason {reason!r}: a refusal must say why")
    return allowed, reason if isinstance(reason, str) else str(reason)
