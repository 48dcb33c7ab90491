"""Checks for exercise 07: a broadcast chat room that survives clients leaving (lesson 07).

A scenario (``_scenario``, with the dying sockets of ``lab.checks.dying``) and a table of the
mistakes it tells apart (``MISTAKES``: each symptom's message and hint)."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, MutableSet
from typing import Any

from aiohttp import web
from websockets.asyncio.client import connect

from lab.checks.core import (
    CheckFailed,
    Crashes,
    NoResponse,
    expect,
    fail,
    learner_line,
    passed,
    probe_handler,
    quiet_server_log,
    require_async,
    short,
)
from lab.checks.dying import Ghosts, Member, server_side, stall
from servers import runtime, serve
from servers.timing import scaled

CLIENTS = 5
QUIET = 0.2
"""Seconds to keep listening after the expected messages arrived, to catch extra copies."""
SENDS = ("send_str", "send_bytes", "send_json", "send_frame")
_REMOVE_IN_FINALLY = "remove the socket in a `finally:` after the `async for` loop."

MISTAKES: dict[str, tuple[str, str]] = {
    "not added": (
        "with {number} client(s) connected, `members` holds {held} socket(s).",
        "after `await ws.prepare(request)`, add the socket: `members.add(ws)`.",
    ),
    "echo": (
        "client {number} received its own message back: {text!r}.",
        "send to every member except the sender: `if other is not ws`.",
    ),
    "one receiver": (
        f"each message reached one client only, not the {CLIENTS - 1} others.",
        "loop over every member: `for other in members: ...`, and do not stop (no `break`, no "
        "`return`) after the first send.",
    ),
    "stopped at a ghost": (
        "client {number} never received {missing} ({others}): the broadcast stopped at a dead "
        "socket in `members` (its send raised) and skipped every member after it.",
        "catch the error around each send, inside the loop, not around the whole loop: `for "
        "other in list(members): try: await other.send_str(...) except ConnectionError: "
        "continue`.",
    ),
    "wrong copies": (
        "{problem}; it received {inbox}.",
        "for each text message, send it once to each other member, skipping a socket that fails "
        "(try/except ConnectionError) rather than stopping.",
    ),
    "kept after a reset": (
        "client {number} vanished (TCP reset, no close frame), yet `members` still holds {held} "
        "sockets: the room keeps writing to a dead one.",
        "a reset makes aiohttp cancel your handler (CancelledError inside `async for`), so code "
        "after the loop never runs: remove it in a `finally:`, `try: async for ... finally: "
        "members.discard(ws)`.",
    ),
    "kept after a close": (
        "client {number} closed cleanly (code {code}), yet `members` still holds {held} sockets.",
        _REMOVE_IN_FINALLY,
    ),
    "kept at the end": (
        "every client closed, yet `members` still holds {held} socket(s).",
        _REMOVE_IN_FINALLY,
    ),
    "no response": (
        "the handler returned {got} instead of its WebSocketResponse; aiohttp then logs "
        '"Missing return statement on request handler" and tries to answer 500 on a '
        "connection that is no longer HTTP.",
        "end the handler with `return ws`, after the `try:` ... `finally:`.",
    ),
    "send raised": (
        "the handler raised {error}{at}, sending to a socket whose client had just vanished; "
        "the broadcast stopped there and the sender's own connection died with it.",
        "a socket can die between two sends, before its handler notices (and before "
        "`ws.closed` says so): wrap each send in `try: ... except ConnectionError:` and go on "
        "to the next member.",
    ),
    "set changed": (
        "the handler raised {error}{at}.",
        "`members` changed while the loop went over it (a socket added or removed during an "
        "`await`): loop over a copy, `for other in list(members):`.",
    ),
    "removed twice": (
        "the handler raised {error}{at}: a socket was removed from `members` twice (a failed "
        "send removed it, and its own handler did too, or the other way round).",
        "`members.remove(...)` raises KeyError when the socket is no longer there (another "
        "handler, or an earlier line, removed it already): use `members.discard(...)`.",
    ),
    "raised": (
        "the handler raised {error}{at}.",
        "read the error above; the cell that defines room_handler is the place to fix it.",
    ),
}


def mistake(symptom: str, **details: Any) -> CheckFailed:
    """The failure for one of the ``MISTAKES``, its message filled in with ``details``."""
    problem, hint = MISTAKES[symptom]
    return fail("07.1", problem.format(**details), hint)


def check_07_room(handler: Callable[..., Any], members: MutableSet) -> None:
    """Exercise 07.1: every message to every *other* member, once; leavers leave cleanly.

    Five clients (the ``websockets`` library, an independent implementation) join the room
    served at ``/room``. Each sends a message; then sockets whose clients vanished a moment
    ago are slipped into ``members`` (as happens under load, before their handlers noticed),
    at least one of them before a live member in the order ``list(members)`` gives, so a
    broadcast that stops at the first failing send is caught, and each drops out of the room
    while a send to it is under way; then a live member's connection dies in the middle of a
    broadcast, before its own handler notices, so a socket removed twice is caught; then one
    client disappears without a close frame (a TCP reset) and another closes cleanly. The room
    must keep delivering, shrink ``members`` as clients leave, never raise, and return its socket.
    """
    require_async(
        "07.1", handler, "room_handler(request)", "aiohttp awaits handlers: write `async def`."
    )
    expect(
        isinstance(members, MutableSet),
        "07.1",
        f"`members` must be the set of sockets in the room; got {type(members).__name__}.",
        "keep `members = set()` from the exercise and pass it to the check.",
    )
    probe_handler("07.1", handler, web.Application(), "/room")
    members.clear()  # a check that failed earlier may have left sockets behind
    crashes = Crashes()
    app = web.Application()
    app.router.add_get("/room", crashes.guard_handler(handler))
    ghosts = Ghosts(members)
    with quiet_server_log(), serve(app, name="check-07") as room, ghosts.serve() as ghost_server:
        url = f"ws://{room.host}:{room.port}/room"
        ghost_url = f"ws://{ghost_server.host}:{ghost_server.port}/ghost"
        try:
            scenario = _scenario(url, ghost_url, ghosts, members, crashes)
            runtime.run(scenario, timeout=scaled(60))
        finally:
            members.clear()
    passed(
        "07.1",
        f"{CLIENTS} clients each got every other client's messages exactly once, never their "
        "own; the room kept working past dead sockets (one ahead of a live member), a member "
        "that died mid-broadcast, a client that vanished and one that closed, and `members` "
        "shrank to 0 as they left.",
    )


async def _scenario(url, ghost_url, ghosts, members, crashes) -> None:
    clients: list[Member] = []
    everyone = list(clients)
    own: dict[int, Any] = {}  # client number -> its socket on the server, once told apart
    try:
        for number in range(1, CLIENTS + 1):
            before = set(members)
            ws = await connect(url, compression=None, ping_interval=None, open_timeout=scaled(5))
            clients.append(Member(number, ws))
            everyone.append(clients[-1])
            await _wait(lambda n=number: len(members) >= n, crashes)
            if len(members) != number:
                raise mistake("not added", number=number, held=len(members))
            new = set(members) - before
            if len(new) == 1:
                own[number] = new.pop()
        await _round(clients, clients, crashes, "hello", first=True)

        sender = clients[0]
        dead = await ghosts.slip_in(ghost_url, own.get(sender.number))
        await _round(clients, [sender], crashes, "past dead sockets", ghost=True)
        for ghost in dead:
            members.discard(ghost)

        dying = clients.pop(2)  # dies mid-broadcast: its handler notices after the send failed
        await stall(server_side(dying, crashes.running), dying.ws.transport)
        await _round(clients, [sender], crashes, "past a dying member", ghost=True)
        await _leave(dying, clients, members, crashes, reset=True)

        vanished = clients.pop()
        await _leave(vanished, clients, members, crashes, reset=True)
        await _round(clients, clients[:1], crashes, f"after client {vanished.number} vanished")
        leaving = clients.pop()
        await _leave(leaving, clients, members, crashes, reset=False)
        await _round(clients, clients[1:2], crashes, f"after client {leaving.number} left")

        for client in clients:
            await client.ws.close()
        await _wait(lambda: not members and not crashes.running, crashes)
        if members:
            raise mistake("kept at the end", held=len(members))
        _fail_on_errors(crashes, ghost=False)
    finally:
        for client in everyone:
            client.ws.transport.abort()
            client.reading.cancel()
        await asyncio.gather(*(c.reading for c in everyone), return_exceptions=True)
        await ghosts.release()


async def _leave(client: Member, clients, members, crashes, *, reset: bool) -> None:
    """``client`` vanishes (a TCP reset, no close frame) or closes: the room must let it go."""
    if reset:
        client.ws.transport.abort()
    else:
        await client.ws.close()
    await _wait(lambda: len(members) == len(clients), crashes)
    if len(members) != len(clients):
        symptom = "kept after a reset" if reset else "kept after a close"
        code = client.ws.close_code
        raise mistake(symptom, number=client.number, code=code, held=len(members))


async def _round(clients, senders, crashes, label: str, *, first=False, ghost=False) -> None:
    """Each of ``senders`` sends one message; every other client must get each exactly once."""
    for client in clients:
        client.inbox.clear()
    sent = {}
    for sender in senders:
        sent[sender.number] = f"{label}, from client {sender.number}"
        await sender.ws.send(sent[sender.number])

    def expected(client: Member) -> list[str]:
        return sorted(text for number, text in sent.items() if number != client.number)

    def complete() -> bool:
        return all(len(c.inbox) >= len(expected(c)) for c in clients)

    await _wait(complete, crashes, ghost=ghost)
    await asyncio.sleep(QUIET)
    _fail_on_errors(crashes, ghost=ghost)
    echoed = [c.number for c in clients if c.number in sent and sent[c.number] in c.inbox]
    if echoed:
        raise mistake("echo", number=echoed[0], text=sent[echoed[0]])
    deliveries = {text: sum(c.inbox.count(text) for c in clients) for text in sent.values()}
    if first and all(count == 1 for count in deliveries.values()):
        raise mistake("one receiver")
    for client in clients:
        if sorted(client.inbox) == expected(client):
            continue
        repeated = sorted({m for m in client.inbox if client.inbox.count(m) > 1})
        missing = sorted(set(expected(client)) - set(client.inbox))
        if ghost and missing and not repeated:
            reached = [str(c.number) for c in clients if c.number not in sent and c.inbox]
            others = f"clients {', '.join(reached)} did" if reached else "no member got it"
            raise mistake(
                "stopped at a ghost", number=client.number, missing=short(missing), others=others
            )
        problem = (
            f"client {client.number} received {short(repeated)} more than once"
            if repeated
            else f"client {client.number} never received {short(missing)}"
        )
        raise mistake("wrong copies", problem=problem, inbox=short(client.inbox))


async def _wait(condition, crashes, *, ghost=False) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(3)
    while not condition() and asyncio.get_running_loop().time() < deadline:
        _fail_on_errors(crashes, ghost=ghost)
        await asyncio.sleep(0.01)


def _fail_on_errors(crashes: Crashes, *, ghost: bool) -> None:
    if not crashes:
        return
    error = crashes[0]
    if isinstance(error, NoResponse):
        got = "None" if error.returned is None else short(error.returned)
        raise mistake("no response", got=got)
    where = learner_line(error, "room_handler")
    details = {"error": f"{type(error).__name__}: {error}", "at": f" ({where})" if where else ""}
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, ConnectionError) or (ghost and any(f.name in SENDS for f in frames)):
        raise mistake("send raised", **details)
    if isinstance(error, RuntimeError) and "changed size during iteration" in str(error):
        raise mistake("set changed", **details)
    if isinstance(error, KeyError):
        raise mistake("removed twice", **details)
    raise mistake("raised", **details)


__all__ = ["MISTAKES", "CheckFailed", "check_07_room"]
