"""How WebSockets end, seen from the client (introduced in lesson 07).

``watch_close`` connects with the ``websockets`` library, does one thing to provoke an ending,
and reports how the connection closed: the code and reason in the server's close frame, or
1006 when no close frame arrived at all (1006 is what a client *reports*; RFC 6455 section
7.4.1 forbids sending it). ``notice_dead_path`` kills the network path under an open
WebSocket and times how long the client takes to notice, with and without keepalive pings.
``make_failing_app`` serves a handler with a bug in it, guarded so the bug closes the socket
with 1011 rather than dropping it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from lab.meter import ByteMeter
from servers.timing import scaled


@dataclass(frozen=True)
class CloseSeen:
    """How one connection ended, from the client's side."""

    code: int
    """The code the client reports: the server's, or 1006 when no close frame came."""
    reason: str
    frame_received: bool
    """Whether a close frame arrived (False: the TCP connection just ended)."""


async def watch_close(
    url: str, provoke: Callable[[ClientConnection], Any], *, max_size: int | None = 2**20
) -> CloseSeen:
    """Connect to ``url``, call ``provoke(ws)`` (awaiting it if it returns an awaitable), and
    wait for the connection to end."""
    async with connect(url, compression=None, ping_interval=None, max_size=max_size) as ws:
        result = provoke(ws)
        if inspect.isawaitable(result):
            await result
        await asyncio.wait_for(ws.wait_closed(), scaled(5))
    received = ws.protocol.close_rcvd
    return CloseSeen(int(ws.close_code), ws.close_reason or "", received is not None)


def guarded(handler: Callable[[web.Request, web.WebSocketResponse], Any]):
    """Wrap a WebSocket handler: if it raises, close the socket with 1011 instead of letting
    aiohttp drop the connection (which the client sees as 1006) and log a traceback."""

    async def route(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        try:
            await handler(request, ws)
        except Exception as error:
            request.app[ERRORS].append(error)
            await ws.close(code=1011, message=b"internal error")
        return ws

    return route


ERRORS = web.AppKey("errors", list)


REPLIES = {"ping": "pong"}


async def _buggy(request: web.Request, ws: web.WebSocketResponse) -> None:
    async for message in ws:
        await ws.send_str(REPLIES[message.data])  # a bug: any other text raises KeyError


def make_failing_app() -> web.Application:
    """``GET /buggy``: a WebSocket handler that raises on any message but ``ping``, guarded
    so the error becomes close code 1011; the errors are kept in ``app[ERRORS]``."""
    app = web.Application()
    app[ERRORS] = []
    app.router.add_get("/buggy", guarded(_buggy))
    return app


@dataclass(frozen=True)
class DeadPathSeen:
    """What a client knew after its network path went silent."""

    looked_open: bool
    """Shortly after the path died: the WebSocket said OPEN and TCP said ESTABLISHED."""
    noticed_after: float | None
    """Seconds from the path dying to the client's connection closing; None: never noticed."""
    code: int | None
    """The close code the client reported (1006: no close frame came back)."""


async def notice_dead_path(
    host: str,
    port: int,
    *,
    ping_interval: float | None,
    ping_timeout: float | None,
    close_timeout: float = 0.5,
    give_up: float = 3.0,
    path: str = "/ws",
) -> DeadPathSeen:
    """Open a WebSocket to ``host:port`` through a byte meter, freeze the meter (every byte
    swallowed, nothing closed: a dead path), and wait up to ``give_up`` seconds for the
    client to notice. ``ping_interval``/``ping_timeout`` are the ``websockets`` library's
    keepalive settings (``None``: no keepalive)."""
    async with ByteMeter(host, port) as meter:
        async with connect(
            f"ws://{meter.host}:{meter.port}{path}",
            compression=None,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
        ) as ws:
            await (await ws.ping())  # the path works: one ping, one pong
            local = ws.transport.get_extra_info("sockname")[:2]
            meter.freeze()  # the network path dies here
            frozen_at = time.monotonic()
            await asyncio.sleep(0.1)
            looked_open = ws.state is State.OPEN and _tcp_state(local) == psutil.CONN_ESTABLISHED
            try:
                await asyncio.wait_for(ws.wait_closed(), give_up)
            except TimeoutError:
                return DeadPathSeen(looked_open, None, None)  # leaving cuts it, unnoticed
            noticed = time.monotonic() - frozen_at
        return DeadPathSeen(looked_open, noticed, int(ws.close_code))


def _tcp_state(local: tuple[str, int]) -> str | None:
    """The kernel's state for this process's TCP socket bound to ``local``."""
    for connection in psutil.Process().net_connections(kind="tcp"):
        if tuple(connection.laddr) == tuple(local):
            return connection.status
    return None
