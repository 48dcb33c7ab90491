"""One feed backend as its own process, naming itself in every answer (lessons 09 and 10).

``python -m servers.backend --name b1 --port 8001`` serves the feed's app (every transport) on
127.0.0.1 with three additions, so a learner behind a load balancer can tell backends apart:

- an ``X-Backend: b1`` header on every HTTP answer (the WebSocket handshake's 101 included);
- ``GET /backend``: ``{"backend", "pid", "waiting", "sockets"}`` — who answered and how many
  long polls, streams and sockets it holds right now;
- ``GET /ws/whoami``: a WebSocket answering each text message with
  ``{"backend": "b1", "echo": message}``.

Start backends from a notebook with ``servers.cluster``, which ties them to the kernel.
"""

from __future__ import annotations

import argparse
import json
import os

from aiohttp import WSMsgType, web

from servers.feed import FEED, Feed, make_app
from servers.ws import SOCKETS

NAME = web.AppKey("backend_name", str)


def make_backend_app(name: str, feed: Feed | None = None) -> web.Application:
    """The feed's app, with the backend's name on every answer and the two routes above."""
    app = make_app(feed)
    app[NAME] = name

    async def name_the_backend(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Backend"] = name

    app.on_response_prepare.append(name_the_backend)
    app.router.add_get("/backend", describe)
    app.router.add_get("/ws/whoami", whoami)
    return app


async def describe(request: web.Request) -> web.Response:
    """``GET /backend``: which backend this is, and what it holds open."""
    return web.json_response(
        {
            "backend": request.app[NAME],
            "pid": os.getpid(),
            "waiting": request.app[FEED].waiting,
            "sockets": len(request.app[SOCKETS]),
        }
    )


async def whoami(request: web.Request) -> web.WebSocketResponse:
    """``GET /ws/whoami``: every text message answered with this backend's name."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)  # counted in /backend, closed with 1001 on shutdown
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(json.dumps({"backend": request.app[NAME], "echo": message.data}))
    return ws


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(
        make_backend_app(args.name),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        shutdown_timeout=0.5,
    )


if __name__ == "__main__":
    main()
