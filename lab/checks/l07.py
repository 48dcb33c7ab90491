"""Checks for exercise 07: a broadcast chat room that survives clients leaving (lesson 07)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import traceback
from collections.abc import Callable, Iterator, MutableSet
from typing import Any

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lab.checks.core import CheckFailed, expect, fail, passed, probe_handler, short
from lab.timing import scaled
from servers import runtime, serve

CLIENTS = 5
QUIET = 0.2
"""Seconds to keep listening after the expected messages arrived, to catch extra copies."""


def check_07_room(handler: Callable[..., Any], members: MutableSet) -> None:
    """Exercise 07.1: every message to every *other* member, once; leavers leave cleanly.

    Five clients (the ``websockets`` library, an independent implementation) join the room
    served at ``/room``. Each sends a message; then a socket whose client vanished a moment
    ago is slipped into ``members`` (as happens under load, before its handler noticed); then
    one client disappears without a close frame (a TCP reset) and another closes cleanly. The
    room must keep delivering, shrink ``members`` as clients leave, and never raise.
    """
    expect(
        inspect.iscoroutinefunction(handler),
        "07.1",
        "the handler must be an `async def` function that takes the request.",
    )
    expect(
        isinstance(members, MutableSet),
        "07.1",
        f"`members` must be the set of sockets in the room; got {type(members).__name__}.",
        "keep `members = set()` from the exercise and pass it to the check.",
    )
    probe_handler("07.1", handler, web.Application(), "/room")
    members.clear()  # a check that failed earlier may have left sockets behind
    errors: list[BaseException] = []

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as error:
            errors.append(error)
            raise

    app = web.Application()
    app.router.add_get("/room", guarded)
    ghosts = _GhostMaker()
    with _quiet_server_log(), serve(app, name="check-07") as room, ghosts.serve() as ghost_server:
        url = f"ws://{room.host}:{room.port}/room"
        ghost_url = f"ws://{ghost_server.host}:{ghost_server.port}/ghost"
        try:
            runtime.run(_scenario(url, ghost_url, ghosts, members, errors), timeout=scaled(60))
        finally:
            members.clear()
    passed(
        "07.1",
        f"{CLIENTS} clients each got every other client's messages exactly once, never their "
        "own; the room kept working past a dead socket, a client that vanished and one that "
        "closed, and `members` shrank to 0 as they left.",
    )


class _Client:
    """One member, reading everything the room sends it in the background."""

    def __init__(self, number: int, ws: ClientConnection) -> None:
        self.number, self.ws, self.inbox = number, ws, []
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                self.inbox.append(message)


async def _scenario(url, ghost_url, ghosts, members, errors) -> None:
    clients: list[_Client] = []
    try:
        for number in range(1, CLIENTS + 1):
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=scaled(5))
            clients.append(_Client(number, ws))
        await _wait(lambda: len(members) == CLIENTS, errors)
        if len(members) != CLIENTS:
            raise fail(
                "07.1",
                f"with {CLIENTS} clients connected, `members` holds {len(members)} socket(s).",
                "after `await ws.prepare(request)`, add the socket: `members.add(ws)`.",
            )
        await _round(clients, clients, errors, "hello", first=True)

        ghost = await ghosts.make(ghost_url)
        members.add(ghost)
        await _round(clients, clients[:1], errors, "past a dead socket", ghost=True)
        members.discard(ghost)

        vanished = clients.pop()
        vanished.ws.transport.abort()  # no close frame, a TCP reset
        await _wait(lambda: len(members) == CLIENTS - 1, errors)
        if len(members) != CLIENTS - 1:
            raise fail(
                "07.1",
                f"client {vanished.number} vanished (TCP reset, no close frame), yet `members` "
                f"still holds {len(members)} sockets: the room keeps writing to a dead one.",
                "remove the socket when its `async for` loop ends, whatever the reason: "
                "`try: async for ... finally: members.discard(ws)`.",
            )
        await _round(clients, clients[:1], errors, f"after client {vanished.number} vanished")

        leaving = clients.pop()
        await leaving.ws.close()
        await _wait(lambda: len(members) == CLIENTS - 2, errors)
        expect(
            len(members) == CLIENTS - 2,
            "07.1",
            f"client {leaving.number} closed cleanly (code {leaving.ws.close_code}), yet "
            f"`members` still holds {len(members)} sockets.",
            "remove the socket in a `finally:` after the `async for` loop.",
        )
        await _round(clients, clients[1:2], errors, f"after client {leaving.number} left")

        for client in clients:
            await client.ws.close()
        await _wait(lambda: not members, errors)
        expect(
            not members,
            "07.1",
            f"every client closed, yet `members` still holds {len(members)} socket(s).",
            "remove the socket in a `finally:` after the `async for` loop.",
        )
        _fail_on_errors(errors, ghost=False)
    finally:
        for client in clients:
            client.ws.transport.abort()
        for client in clients:
            client.reading.cancel()
        await asyncio.gather(*(c.reading for c in clients), return_exceptions=True)
        await ghosts.release()


async def _round(clients, senders, errors, label: str, *, first=False, ghost=False) -> None:
    """Each of ``senders`` sends one message; every other client must get each exactly once."""
    for client in clients:
        client.inbox.clear()
    sent = {}
    for sender in senders:
        sent[sender.number] = f"{label}, from client {sender.number}"
        await sender.ws.send(sent[sender.number])

    def expected(client: _Client) -> list[str]:
        return sorted(text for number, text in sent.items() if number != client.number)

    def complete() -> bool:
        return all(len(c.inbox) >= len(expected(c)) for c in clients)

    await _wait(complete, errors, ghost=ghost)
    await asyncio.sleep(QUIET)
    _fail_on_errors(errors, ghost=ghost)
    echoed = [c.number for c in clients if c.number in sent and sent[c.number] in c.inbox]
    if echoed:
        raise fail(
            "07.1",
            f"client {echoed[0]} received its own message back: {sent[echoed[0]]!r}.",
            "send to every member except the sender: `if other is not ws`.",
        )
    deliveries = {text: sum(c.inbox.count(text) for c in clients) for text in sent.values()}
    if first and all(count == 1 for count in deliveries.values()):
        raise fail(
            "07.1",
            f"each message reached one client only, not the {CLIENTS - 1} others.",
            "loop over every member: `for other in members: ...`, and do not stop (no "
            "`break`, no `return`) after the first send.",
        )
    for client in clients:
        if sorted(client.inbox) != expected(client):
            repeated = sorted({m for m in client.inbox if client.inbox.count(m) > 1})
            missing = sorted(set(expected(client)) - set(client.inbox))
            problem = (
                f"client {client.number} received {short(repeated)} more than once"
                if repeated
                else f"client {client.number} never received {short(missing)}"
            )
            where = " (with a dead socket in the room)" if ghost else ""
            raise fail(
                "07.1",
                f"{problem}{where}; it received {short(client.inbox)}.",
                "for each text message, send it once to each other member, skipping a socket "
                "that fails (try/except ConnectionError) rather than stopping.",
            )


async def _wait(condition, errors, *, ghost=False) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(3)
    while not condition() and asyncio.get_running_loop().time() < deadline:
        _fail_on_errors(errors, ghost=ghost)
        await asyncio.sleep(0.01)


def _fail_on_errors(errors: list[BaseException], *, ghost: bool) -> None:
    if not errors:
        return
    error = errors[0]
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1] if frames else None
    at = f" (line {where.lineno}: {where.line})" if where else ""
    if isinstance(error, ConnectionError) or ghost:
        raise fail(
            "07.1",
            f"the handler raised {type(error).__name__}: {error}{at}, sending to a socket whose "
            "client had just vanished; the broadcast stopped there and the sender's own "
            "connection died with it.",
            "a socket can die between two sends, before its handler notices (and before "
            "`ws.closed` says so): wrap each send in `try: ... except ConnectionError:` and go "
            "on to the next member.",
        )
    raise fail(
        "07.1",
        f"the handler raised {type(error).__name__}: {error}{at}.",
        "read the error above; the cell that defines room_handler is the place to fix it.",
    )


class _GhostMaker:
    """Sockets whose client has gone, but whose handler has not noticed yet."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.requests: list[web.Request] = []
        self.done = asyncio.Event()

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.requests.append(request)
        self.sockets.append(ws)
        await self.done.wait()  # never reads: nothing here notices the client leaving
        return ws

    def serve(self):
        app = web.Application()
        app.router.add_get("/ghost", self._handler)
        self.done = asyncio.Event()
        return serve(app, name="check-07-ghosts")

    async def make(self, url: str) -> web.WebSocketResponse:
        client = await connect(url, compression=None, ping_interval=None)
        while not self.sockets:
            await asyncio.sleep(0.005)
        client.transport.abort()
        request = self.requests[-1]
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.005)
        return self.sockets[-1]

    async def release(self) -> None:
        self.done.set()


@contextlib.contextmanager
def _quiet_server_log() -> Iterator[None]:
    """aiohttp logs a handler's exception with its traceback; the check reports it instead."""
    logger = logging.getLogger("aiohttp.server")
    saved = logger.propagate, logger.handlers[:]
    logger.propagate, logger.handlers = False, [logging.NullHandler()]
    try:
        yield
    finally:
        logger.propagate, logger.handlers = saved


__all__ = ["CheckFailed", "check_07_room"]
