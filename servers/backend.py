"""One feed backend as its own process, naming itself in every answer (lessons 09 and 10).

``python -m servers.backend --name b1 --port 8001`` serves the feed's app (every transport) on
127.0.0.1 with three additions, so a learner behind a load balancer can tell backends apart:

- an ``X-Backend: b1`` header on every HTTP answer (the WebSocket handshake's 101 included);
- ``GET /backend``: ``{"backend", "pid", "waiting", "sockets"}`` — who answered and how many
  long polls, streams and sockets it holds right now — and, on a backplane (lesson 10),
  ``"relay": {"subscribed", "subscriptions"}``: whether its relay is on the backplane now and
  how many times it has subscribed (it goes up after a backplane restart);
- ``GET /ws/whoami``: a WebSocket answering each text message with
  ``{"backend": "b1", "echo": message}``;
- ``POST /session`` and ``GET /session/ID`` (lesson 09): a session held in this backend's memory
  only, as a long-polling server's session id often is; another backend answers 404.

Lesson 09's options: ``--heartbeat S`` (SSE comment after S quiet seconds), ``--ws-heartbeat S``
(``/ws/whoami`` pings every S seconds), ``--retry-ms`` (the SSE ``retry:`` sent to clients).
Lesson 11's: ``--write-timeout S`` (a stream that accepts no write for S seconds is let go).
Lesson 10's: ``--backplane redis://127.0.0.1:PORT`` puts the backend on a pub/sub backplane
(``servers.backplane``), ``--no-replay`` makes its relay pure pub/sub (no catch-up).

Start backends from a notebook with ``servers.cluster``, which ties them to the kernel.
"""

from __future__ import annotations

import argparse
import json
import os

from aiohttp import WSMsgType, web

from servers.backplane.feed import RELAY_STATUS
from servers.events import HEARTBEAT, RETRY_MS
from servers.feed import FEED, SOCKETS, Feed, make_app
from servers.stalls import WRITE_TIMEOUT

NAME = web.AppKey("backend_name", str)
WS_HEARTBEAT = web.AppKey("ws_heartbeat", object)
SESSIONS = web.AppKey("sessions", dict)


def make_backend_app(
    name: str,
    feed: Feed | None = None,
    *,
    heartbeat: float = HEARTBEAT,
    ws_heartbeat: float | None = None,
    retry_ms: int = RETRY_MS,
    write_timeout: float = WRITE_TIMEOUT,
) -> web.Application:
    """The feed's app, with the backend's name on every answer and the routes above."""
    app = make_app(feed, heartbeat=heartbeat, retry_ms=retry_ms, write_timeout=write_timeout)
    app[NAME] = name
    app[WS_HEARTBEAT] = ws_heartbeat
    app[SESSIONS] = {}

    async def name_the_backend(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Backend"] = name

    app.on_response_prepare.append(name_the_backend)
    app.router.add_get("/backend", describe)
    app.router.add_get("/ws/whoami", whoami)
    app.router.add_post("/session", open_session)
    app.router.add_get("/session/{id}", read_session)
    return app


async def describe(request: web.Request) -> web.Response:
    """``GET /backend``: which backend this is, what it holds open, and where its relay is."""
    feed = request.app[FEED]
    described = {
        "backend": request.app[NAME],
        "pid": os.getpid(),
        "waiting": feed.waiting - feed.sockets_waiting,  # a socket counts once, as a socket
        "sockets": len(request.app[SOCKETS]),
    }
    if RELAY_STATUS in request.app:
        described["relay"] = request.app[RELAY_STATUS].as_dict()
    return web.json_response(described)


async def whoami(request: web.Request) -> web.WebSocketResponse:
    """``GET /ws/whoami``: every text message answered with this backend's name."""
    ws = web.WebSocketResponse(heartbeat=request.app[WS_HEARTBEAT])
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)  # counted in /backend, closed with 1001 on shutdown
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(json.dumps({"backend": request.app[NAME], "echo": message.data}))
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def open_session(request: web.Request) -> web.Response:
    """``POST /session`` (lesson 09): a new session id, held in this backend's memory only."""
    session = os.urandom(8).hex()
    request.app[SESSIONS][session] = {"backend": request.app[NAME], "polls": 0}
    return web.json_response({"session": session, "backend": request.app[NAME]}, status=201)


async def read_session(request: web.Request) -> web.Response:
    """``GET /session/ID`` (lesson 09): the session, or 404 on a backend that never saw it."""
    session, name = request.match_info["id"], request.app[NAME]
    state = request.app[SESSIONS].get(session)
    if state is None:
        return web.json_response(
            {"error": f"unknown session {session} on backend {name}"}, status=404
        )
    state["polls"] += 1
    return web.json_response({"session": session, **state})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--heartbeat", type=float, default=HEARTBEAT)
    parser.add_argument("--ws-heartbeat", type=float, default=None)
    parser.add_argument("--retry-ms", type=int, default=RETRY_MS)
    parser.add_argument("--write-timeout", type=float, default=WRITE_TIMEOUT)
    parser.add_argument("--backplane", help="redis://HOST:PORT: share posts through it (lesson 10)")
    parser.add_argument("--no-replay", action="store_true", help="pure pub/sub, no catch-up")
    args = parser.parse_args(argv)
    app = make_backend_app(
        args.name,
        heartbeat=args.heartbeat,
        ws_heartbeat=args.ws_heartbeat,
        retry_ms=args.retry_ms,
        write_timeout=args.write_timeout,
    )
    if args.backplane:  # lesson 10: posts numbered and shared by a backplane, relayed in
        from servers.backplane import join

        join(app, args.backplane, replay=not args.no_replay)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        shutdown_timeout=0.5,
    )


if __name__ == "__main__":
    main()
