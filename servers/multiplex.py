"""Lesson 05's TLS origin with the routes lesson 13 adds, and a record of what rode on what.

``serve_multiplexed(http2=..., max_concurrent_streams=...)`` is ``servers.http2.serve_tls``
with this app: everything lesson 05's app serves (``/``, ``/ping``, ``/events?stream=K``),
plus ``/ticks?every=S``, an SSE stream with a numbered event every ``S`` seconds (the
head-of-line lab watches its gaps), and ``/ws``, a WebSocket echo. ``server.seen`` is a
``Seen``: which client connection (its address and port) each stream came in on, and for each
WebSocket the HTTP version its handshake used: ``"1.1"`` for an ``Upgrade`` with a ``101``,
``"2"`` for RFC 8441's extended ``CONNECT`` inside an HTTP/2 connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from servers.http2 import TLSServer, _disconnected, make_asgi_app
from servers.sse import encode_event


@dataclass
class Seen:
    streams: list[dict] = field(default_factory=list)
    """One ``{"path", "peer", "http_version"}`` per HTTP request (``peer``: the client's
    ``(host, port)``, so one peer is one TCP connection)."""
    websockets: list[dict] = field(default_factory=list)
    """One ``{"peer", "http_version", "echoed"}`` per WebSocket."""

    def peers(self, path: str) -> set:
        """The distinct client connections that carried requests for ``path``."""
        return {tuple(s["peer"]) for s in self.streams if s["path"] == path}


def make_app(seen: Seen):
    """A factory for ``TLSServer(make_app=...)``: the lesson 05 app plus ``/ticks`` and ``/ws``."""

    def factory(counter, stopping: asyncio.Event):
        base = make_asgi_app(counter, stopping)

        async def app(scope, receive, send):
            if scope["type"] == "websocket":
                await _echo(scope, receive, send, seen)
                return
            if scope["type"] == "http":
                seen.streams.append(
                    {
                        "path": scope["path"],
                        "peer": scope.get("client"),
                        "http_version": scope["http_version"],
                    }
                )
                if scope["path"] == "/ticks":
                    await _ticks(scope, receive, send, stopping)
                    return
            await base(scope, receive, send)

        return app

    return factory


async def _ticks(scope, receive, send, stopping: asyncio.Event) -> None:
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    every = float(query.get("every", "0.05"))
    headers = [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-store, no-transform"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    gone = asyncio.ensure_future(_disconnected(receive))
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        n = 0
        while not (gone.done() or stopped.done()):
            n += 1
            body = encode_event(f"tick {n}", id=n)
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await asyncio.wait([gone, stopped], timeout=every, return_when="FIRST_COMPLETED")
        if not gone.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()
        stopped.cancel()


async def _echo(scope, receive, send, seen: Seen) -> None:
    entry = {"peer": scope.get("client"), "http_version": scope["http_version"], "echoed": 0}
    seen.websockets.append(entry)
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            entry["echoed"] += 1
            reply = {k: message[k] for k in ("text", "bytes") if message.get(k) is not None}
            await send({"type": "websocket.send", **reply})
        else:  # websocket.disconnect
            return


class MultiplexServer(TLSServer):
    """A ``TLSServer`` serving ``make_app``'s routes, with ``.seen``."""

    def __init__(self, *, http2: bool, max_concurrent_streams: int = 100) -> None:
        self.seen = Seen()
        super().__init__(
            http2=http2,
            max_concurrent_streams=max_concurrent_streams,
            make_app=make_app(self.seen),
        )


def serve_multiplexed(*, http2: bool = True, max_concurrent_streams: int = 100) -> MultiplexServer:
    """Start lesson 13's origin over TLS (HTTP/2 offered when ``http2``)."""
    return MultiplexServer(http2=http2, max_concurrent_streams=max_concurrent_streams).start()
