"""Authenticating a WebSocket without relying on cookies: a token in the first message, a
one-time ticket fetched over HTTP, and a session that expires on a long connection (lesson 12).

A browser's ``WebSocket`` cannot set ``Authorization`` either, so apps that do not want
cookies (lesson 12 shows why cookies need an ``Origin`` check) send the credential *after* the
handshake, as the first message, or fetch a short-lived one-time *ticket* with an
authenticated ``fetch()`` and put it in the URL, where a log that keeps it keeps something
already spent.

``socket_auth_app(tokens, auth_timeout)`` serves:

- ``POST /ticket`` with ``Authorization: Bearer TOKEN``: ``{"ticket": ...}``, valid once;
- ``GET /ws?ticket=T``: the handshake succeeds only with an unspent, unexpired ticket (else 403
  with the reason);
- ``GET /ws/first-message``: any handshake succeeds, then the first message must be
  ``{"token": ..., "since": N}`` within ``auth_timeout`` seconds, or the server closes with
  1008 (policy violation) and says why.

Once authenticated, a socket gets ``{"tick": n}`` for n = since + 1, since + 2, … every
``TICK`` seconds, until the token expires: then the server closes with 1008 "session expired".
``follow(url, get_token, ticks)`` is a client that re-authenticates (a fresh token) and
resumes after each such close, recording every connection (``Session``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from lab.tokens import Refused, Tokens

TICK = 0.05
"""Seconds between two ticks on an authenticated socket."""
EXPIRED = "session expired"


def socket_auth_app(tokens: Tokens, auth_timeout: float = 2.0) -> web.Application:
    """The app described above."""

    async def ticket(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            user = tokens.check(header.removeprefix("Bearer ") if header else None)
        except Refused as refused:
            return web.json_response({"error": str(refused)}, status=401)
        return web.json_response({"ticket": tokens.ticket(user)})

    async def by_ticket(request: web.Request) -> web.StreamResponse:
        try:
            user = tokens.redeem(request.query.get("ticket"))
        except Refused as refused:
            return web.json_response({"error": str(refused)}, status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"user": user})
        await _ticks(ws, 0, time.time() + tokens.ttl, tokens.clock)
        return ws

    async def by_first_message(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            first = await ws.receive_str(timeout=auth_timeout)
            hello = json.loads(first)
            user, expiry = tokens.check_at(hello.get("token"))
        except TimeoutError:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no token in time")
            return ws
        except (Refused, ValueError, TypeError, AttributeError) as refused:
            reason = str(refused) if isinstance(refused, Refused) else "send {\"token\": ...}"
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason.encode())
            return ws
        await ws.send_json({"user": user})
        await _ticks(ws, int(hello.get("since", 0)), expiry, tokens.clock)
        return ws

    app = web.Application()
    app.router.add_post("/ticket", ticket)
    app.router.add_get("/ws", by_ticket)
    app.router.add_get("/ws/first-message", by_first_message)
    return app


async def _ticks(ws: web.WebSocketResponse, since: int, expiry: float,
                 clock: Callable[[], float]) -> None:
    """Send ticks after ``since`` until the session's ``expiry``, then close with 1008; read
    in between, so a client's own close is answered at once."""
    number = since
    while not ws.closed:
        if clock() >= expiry:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=EXPIRED.encode())
            return
        number += 1
        await ws.send_json({"tick": number})
        try:
            message = await ws.receive(timeout=TICK)
        except TimeoutError:
            continue
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return


@dataclass
class Connection:
    """One connection of ``follow``: the ticks it carried and how it ended."""

    ticks: list[int] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""


@dataclass
class Session:
    """Every connection ``follow`` made, in order."""

    connections: list[Connection] = field(default_factory=list)

    @property
    def ticks(self) -> list[int]:
        return [t for c in self.connections for t in c.ticks]


async def follow(url: str, get_token: Callable[[], str], ticks: int) -> Session:
    """Read ``ticks`` ticks from ``url`` (the first-message endpoint), authenticating each
    connection with a fresh ``get_token()`` and resuming after the last tick seen whenever the
    server closes with 1008 "session expired". Another close ends it."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    session = Session()
    last = 0
    while last < ticks:
        connection = Connection()
        session.connections.append(connection)
        async with connect(url) as ws:
            await ws.send(json.dumps({"token": get_token(), "since": last}))
            try:
                async for message in ws:
                    tick = json.loads(message).get("tick")
                    if tick is not None:
                        connection.ticks.append(tick)
                        last = tick
                        if last >= ticks:
                            break
            except ConnectionClosed:
                pass
        connection.close_code, connection.close_reason = ws.close_code, ws.close_reason or ""
        if last < ticks and connection.close_reason != EXPIRED:
            break
    return session


async def first_message_refusal(url: str, first: str | None) -> tuple[int | None, str]:
    """Open ``url``, send ``first`` (nothing when ``None``), and return how the server closed."""
    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        if first is not None:
            await ws.send(first)
        try:
            while True:
                await ws.recv()
        except Exception:
            pass
    return ws.close_code, ws.close_reason or ""


async def ticket_handshakes(base: str, ws_base: str, token: str) -> list[tuple[str, int]]:
    """Fetch a ticket with ``token``, then use it twice: ``[(what, status)]``, 101 when the
    handshake switched."""
    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async with httpx.AsyncClient() as client:
        answer = await client.post(base + "/ticket", headers={"Authorization": f"Bearer {token}"})
    ticket = answer.json()["ticket"]
    results = [("POST /ticket with the token", answer.status_code)]
    for what in ("first use of the ticket", "the same ticket again (replayed from a log)"):
        try:
            async with connect(f"{ws_base}/ws?ticket={ticket}") as ws:
                await ws.recv()
                results.append((what, 101))
        except InvalidStatus as refused:
            results.append((what, refused.response.status_code))
    return results
