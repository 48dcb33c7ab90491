"""Checks for exercise 07: a broadcast chat room that survives clients leaving (lesson 07)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sysconfig
import traceback
from collections.abc import Callable, Iterator, MutableSet
from pathlib import Path
from typing import Any

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lab.checks.core import CheckFailed, expect, fail, passed, probe_handler, short
from servers import runtime, serve
from servers.timing import scaled

CLIENTS = 5
QUIET = 0.2
"""Seconds to keep listening after the expected messages arrived, to catch extra copies."""
MAX_GHOSTS = 6
"""At most this many dead sockets are slipped in, until one comes before a live member."""
SENDS = ("send_str", "send_bytes", "send_json", "send_frame")


def check_07_room(handler: Callable[..., Any], members: MutableSet) -> None:
    """Exercise 07.1: every message to every *other* member, once; leavers leave cleanly.

    Five clients (the ``websockets`` library, an independent implementation) join the room
    served at ``/room``. Each sends a message; then sockets whose clients vanished a moment
    ago are slipped into ``members`` (as happens under load, before their handlers noticed),
    at least one of them before a live member in the order ``list(members)`` gives, so a
    broadcast that stops at the first failing send is caught; then one client disappears
    without a close frame (a TCP reset) and another closes cleanly. The room must keep
    delivering, shrink ``members`` as clients leave, never raise, and return its socket.
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
    running: list[web.Request] = []

    async def guarded(request: web.Request) -> Any:
        running.append(request)
        try:
            response = await handler(request)
        except Exception as error:
            errors.append(error)
            raise
        finally:
            running.remove(request)
        if not isinstance(response, web.StreamResponse):
            errors.append(_NoResponse(response))
        return response

    app = web.Application()
    app.router.add_get("/room", guarded)
    ghosts = _GhostMaker()
    with _quiet_server_log(), serve(app, name="check-07") as room, ghosts.serve() as ghost_server:
        url = f"ws://{room.host}:{room.port}/room"
        ghost_url = f"ws://{ghost_server.host}:{ghost_server.port}/ghost"
        try:
            scenario = _scenario(url, ghost_url, ghosts, members, errors, running)
            runtime.run(scenario, timeout=scaled(60))
        finally:
            members.clear()
    passed(
        "07.1",
        f"{CLIENTS} clients each got every other client's messages exactly once, never their "
        "own; the room kept working past dead sockets (one ahead of a live member), a client "
        "that vanished and one that closed, and `members` shrank to 0 as they left.",
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


async def _scenario(url, ghost_url, ghosts, members, errors, running) -> None:
    clients: list[_Client] = []
    own: dict[int, Any] = {}  # client number -> its socket on the server, once told apart
    try:
        for number in range(1, CLIENTS + 1):
            before = set(members)
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=scaled(5))
            clients.append(_Client(number, ws))
            await _wait(lambda n=number: len(members) >= n, errors)
            if len(members) != number:
                raise fail(
                    "07.1",
                    f"with {number} client(s) connected, `members` holds {len(members)} socket(s).",
                    "after `await ws.prepare(request)`, add the socket: `members.add(ws)`.",
                )
            new = set(members) - before
            if len(new) == 1:
                own[number] = new.pop()
        await _round(clients, clients, errors, "hello", first=True)

        sender = clients[0]
        dead = await _slip_in_ghosts(ghosts, ghost_url, members, own.get(sender.number))
        await _round(clients, [sender], errors, "past dead sockets", ghost=True)
        for ghost in dead:
            members.discard(ghost)

        vanished = clients.pop()
        vanished.ws.transport.abort()  # no close frame, a TCP reset
        await _wait(lambda: len(members) == CLIENTS - 1, errors)
        if len(members) != CLIENTS - 1:
            raise fail(
                "07.1",
                f"client {vanished.number} vanished (TCP reset, no close frame), yet `members` "
                f"still holds {len(members)} sockets: the room keeps writing to a dead one.",
                "a reset makes aiohttp cancel your handler (CancelledError inside `async for`), "
                "so code after the loop never runs: remove it in a `finally:`, "
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
        await _wait(lambda: not members and not running, errors)
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


async def _slip_in_ghosts(ghosts, ghost_url, members, sender_socket) -> list:
    """Add two dead sockets to ``members``, the first one *first* in ``list(members)``: a
    broadcast that stops at the first failing send then misses every live member.

    A set's order follows its slots, not insertion: a newcomer whose hash collides with the
    members' (``id``-based, so often) probes on and sorts last. The first ghost hashes to 0
    and goes into the emptied set before the others, so it keeps slot 0 through any resize.
    """
    dead = [await ghosts.make(ghost_url, first=True), await ghosts.make(ghost_url)]
    live = list(members)
    members.clear()
    members.add(dead[0])
    for member in live:
        members.add(member)
    members.add(dead[1])
    while not _live_member_after_a_ghost(list(members), dead, sender_socket):
        if len(dead) == MAX_GHOSTS:  # not a built-in set: keep what order it gives
            break
        dead.append(await ghosts.make(ghost_url, first=True))
        members.add(dead[-1])
    return dead


def _live_member_after_a_ghost(order: list, dead: list, sender_socket) -> bool:
    first = next(i for i, m in enumerate(order) if any(m is g for g in dead))
    after = [m for m in order[first + 1 :] if not any(m is g for g in dead)]
    if sender_socket is None:
        return len(after) >= 2  # one of them may be the sender's own
    return any(m is not sender_socket for m in after)


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
        if sorted(client.inbox) == expected(client):
            continue
        repeated = sorted({m for m in client.inbox if client.inbox.count(m) > 1})
        missing = sorted(set(expected(client)) - set(client.inbox))
        if ghost and missing and not repeated:
            reached = [str(c.number) for c in clients if c.number not in sent and c.inbox]
            others = f"clients {', '.join(reached)} did" if reached else "no member got it"
            raise fail(
                "07.1",
                f"client {client.number} never received {short(missing)} ({others}): the "
                "broadcast stopped at a dead socket in `members` (its send raised) and "
                "skipped every member after it.",
                "catch the error around each send, inside the loop, not around the whole "
                "loop: `for other in list(members): try: await other.send_str(...) except "
                "ConnectionError: continue`.",
            )
        problem = (
            f"client {client.number} received {short(repeated)} more than once"
            if repeated
            else f"client {client.number} never received {short(missing)}"
        )
        raise fail(
            "07.1",
            f"{problem}; it received {short(client.inbox)}.",
            "for each text message, send it once to each other member, skipping a socket "
            "that fails (try/except ConnectionError) rather than stopping.",
        )


async def _wait(condition, errors, *, ghost=False) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(3)
    while not condition() and asyncio.get_running_loop().time() < deadline:
        _fail_on_errors(errors, ghost=ghost)
        await asyncio.sleep(0.01)


class _NoResponse(Exception):
    """The handler returned something that is not a response: usually a forgotten ``return``."""

    def __init__(self, returned: Any) -> None:
        super().__init__(returned)
        self.returned = returned


def _fail_on_errors(errors: list[BaseException], *, ghost: bool) -> None:
    if not errors:
        return
    error = errors[0]
    if isinstance(error, _NoResponse):
        got = "None" if error.returned is None else short(error.returned)
        raise fail(
            "07.1",
            f"the handler returned {got} instead of its WebSocketResponse; aiohttp then logs "
            '"Missing return statement on request handler" and tries to answer 500 on a '
            "connection that is no longer HTTP.",
            "end the handler with `return ws`, after the `try:` ... `finally:`.",
        )
    frames = traceback.extract_tb(error.__traceback__)
    where = _learner_frame(frames)
    at = f" (line {where.lineno}: {where.line})" if where else ""
    if isinstance(error, ConnectionError) or (ghost and _raised_by_a_send(frames)):
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
        _pitfall(error)
        or "read the error above; the cell that defines room_handler is the place to fix it.",
    )


def _pitfall(error: BaseException) -> str | None:
    """A hint for the errors a room handler typically raises, other than a failed send."""
    if isinstance(error, RuntimeError) and "changed size during iteration" in str(error):
        return (
            "`members` changed while the loop went over it (a socket added or removed during "
            "an `await`): loop over a copy, `for other in list(members):`."
        )
    if isinstance(error, KeyError):
        return (
            "`members.remove(...)` raises KeyError when the socket is no longer there (another "
            "handler, or an earlier line, removed it already): use `members.discard(...)`."
        )
    return None


def _raised_by_a_send(frames: traceback.StackSummary) -> bool:
    return any(frame.name in SENDS for frame in frames)


_NOT_THE_LEARNERS = tuple(
    str(path)
    for path in {
        Path(sysconfig.get_paths()["stdlib"]).resolve(),
        Path(sysconfig.get_paths()["purelib"]).resolve(),
        Path(sysconfig.get_paths()["platlib"]).resolve(),
        Path(__file__).resolve().parents[1],  # lab/
        Path(runtime.__file__).resolve().parent,  # servers/
    }
)


def _learner_frame(frames: traceback.StackSummary) -> traceback.FrameSummary | None:
    """The innermost frame in the learner's code: not the standard library, an installed
    package (aiohttp), nor the course's own ``lab/`` and ``servers/``."""
    for frame in reversed(frames):
        filename = str(Path(frame.filename).resolve()) if frame.filename else ""
        if "site-packages" in filename or "dist-packages" in filename:
            continue
        if not filename.startswith(_NOT_THE_LEARNERS):
            return frame
    return frames[-1] if frames else None


class _DeadSocket(web.WebSocketResponse):
    """A server socket whose hash the check may pin to 0, to put it first in a set's order."""

    def __init__(self, *, first: bool) -> None:
        super().__init__()
        self._first = first

    def __hash__(self) -> int:
        return 0 if self._first else super().__hash__()

    def __eq__(self, other: object) -> bool:
        return self is other


class _GhostMaker:
    """Sockets whose client has gone, but whose handler has not noticed yet."""

    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.requests: list[web.Request] = []
        self.done = asyncio.Event()
        self.first = False

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = _DeadSocket(first=self.first)
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

    async def make(self, url: str, *, first: bool = False) -> web.WebSocketResponse:
        made, self.first = len(self.sockets), first
        client = await connect(url, compression=None, ping_interval=None)
        while len(self.sockets) == made:
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
