"""``python -m servers.notify``: the notification service as its own process (lesson 14).

    python -m servers.notify --port 8000                               # one process
    python -m servers.notify --port 8000 --redis redis://127.0.0.1:6379  # a backend of many

Backends that share a Redis share every channel (ids, history): a client resumes on any of
them. To accept each other's tokens they share a secret, read from the ``NOTIFY_SECRET``
environment variable (never from the command line, where ``ps`` shows it). SIGTERM (or
Ctrl-C) stops it cleanly: each SSE stream gets a ``shutdown`` event and its end, each
WebSocket close code 1001, and the process exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from servers import events, runtime
from servers.limits import raise_open_file_limit
from servers.notify.app import make_app
from servers.notify.auth import TTL, Signer
from servers.notify.channels import HISTORY, MemoryBrokers, RedisBrokers
from servers.notify.presence import TTL as PRESENCE_TTL
from servers.notify.roster import PresenceSetup
from servers.stalls import WRITE_TIMEOUT

SHUTDOWN_TIMEOUT = 1.0
"""Seconds open handlers get to end after the streams are told, before they are cancelled."""


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(
        prog="python -m servers.notify",
        description="The course's notification service (lesson 14): per-user and broadcast "
        "channels over SSE and WebSocket, with login, resume and /health, /metrics.",
        epilog="Environment: NOTIFY_SECRET, the key that signs tokens (share it between "
        "backends; default: a random key per process).",
    )
    add = commands.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    add(
        "--name",
        default="",
        help="a name for this backend, sent as X-Backend on every response (/health too), "
        "so a client behind a balancer can tell which backend answered",
    )
    add(
        "--redis",
        metavar="URL",
        help="share channels through the Redis at URL "
        "(redis://HOST:PORT); without it, an in-process backplane for this process alone",
    )
    add(
        "--history",
        type=int,
        default=HISTORY,
        help="posts each channel keeps for resuming clients (default: %(default)s)",
    )
    add(
        "--token-ttl",
        type=float,
        default=TTL,
        help="seconds a login's token and cookie last (default: %(default)s)",
    )
    add(
        "--user",
        action="append",
        metavar="NAME:PASSWORD",
        default=[],
        help="a user who may log in (repeat it); without any, whoever names a user is that "
        "user (a demo login)",
    )
    add(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="a page origin allowed to open WebSockets (repeat it; default: any loopback page)",
    )
    add(
        "--retry",
        type=int,
        default=events.RETRY_MS,
        metavar="MS",
        help="the SSE retry: milliseconds a disconnected client waits before reconnecting "
        "(default: %(default)s)",
    )
    add(
        "--heartbeat",
        type=float,
        default=events.HEARTBEAT,
        help="seconds of quiet before an SSE heartbeat comment (default: %(default)s)",
    )
    add(
        "--write-timeout",
        type=float,
        default=WRITE_TIMEOUT,
        help="seconds a stream may accept no write before it is let go (default: %(default)s)",
    )
    add(
        "--presence-ttl",
        type=float,
        default=PRESENCE_TTL,
        help="seconds a presence entry lasts unless refreshed: how long a dead backend's users "
        "stay listed as online at most (default: %(default)s)",
    )
    return commands


def name_responses(app: web.Application, name: str) -> None:
    """Every response ``app`` sends says which backend sent it: ``X-Backend: NAME``, set as
    its headers go out (so SSE streams carry it too), as lesson 09's backends do."""

    async def say_name(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Backend"] = name

    app.on_response_prepare.append(say_name)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.history < 1:
        parser().error("--history must be at least 1")
    passwords = dict(user.partition(":")[::2] for user in args.user) if args.user else None
    secret = os.environ.get("NOTIFY_SECRET", "").encode() or None
    brokers = (
        RedisBrokers(args.redis, history=args.history)
        if args.redis
        else MemoryBrokers(history=args.history)
    )
    try:
        app = make_app(
            brokers=brokers,
            signer=Signer(secret, ttl=args.token_ttl),
            passwords=passwords,
            retry_ms=args.retry,
            heartbeat=args.heartbeat,
            write_timeout=args.write_timeout,
            allowed_origins=args.allowed_origin,
            presence=PresenceSetup(ttl=args.presence_ttl),
        )
    except ValueError as error:
        parser().error(str(error))
    if args.name:
        name_responses(app, args.name)
    where = f"http://{args.host}:{args.port}"
    backplane = args.redis or "in-process"
    files = raise_open_file_limit()  # a terminal's soft limit may be 256: one file a client
    print(f"notification service on {where} (backplane: {backplane}; up to {files} open "
          "files)", flush=True)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        handler_cancellation=True,
        keepalive_timeout=runtime.HEAD_TIMEOUT,
    )
    print("notification service stopped", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
