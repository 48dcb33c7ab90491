"""Room members that die without their handler noticing, for the exercise 07 check (lesson 07).

Under load a client can vanish between two sends of a broadcast: its socket then refuses sends
(``ClientConnectionResetError``) before its own handler has been told, so the room still holds
it. Two kinds are made here: *ghosts*, sockets of a server of their own that nobody reads, which
the check slips into ``members``; and ``stall``, which leaves a live member's connection in that
state, so that the learner's own handler notices only when the check lets it. ``Member`` is a
client in the room, ``server_side`` finds the server's end of its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableSet

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from servers import serve

MAX_GHOSTS = 6
"""At most this many dead sockets are slipped in, until one comes before a live member."""


class _DeadSocket(web.WebSocketResponse):
    """A server socket whose client has gone. A send to it first drops it from the room, as its
    own handler would on noticing the reset while the send was under way, then fails. Its hash
    may be pinned to 0, to put it first in a set's order."""

    def __init__(self, room: MutableSet, *, first: bool) -> None:
        super().__init__()
        self._room, self._first = room, first

    def __hash__(self) -> int:
        return 0 if self._first else super().__hash__()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:  # shown in a learner's KeyError
        return "<WebSocketResponse of a client that vanished>"

    async def _noticed(self) -> None:
        self._room.discard(self)
        await asyncio.sleep(0)

    async def send_str(self, *args, **kwargs) -> None:
        await self._noticed()
        await super().send_str(*args, **kwargs)

    async def send_bytes(self, *args, **kwargs) -> None:
        await self._noticed()
        await super().send_bytes(*args, **kwargs)

    async def send_frame(self, *args, **kwargs) -> None:
        await self._noticed()
        await super().send_frame(*args, **kwargs)


class Ghosts:
    """Sockets whose client has gone, but whose handler has not noticed yet."""

    def __init__(self, room: MutableSet) -> None:
        self.room = room
        self.sockets: list[web.WebSocketResponse] = []
        self.requests: list[web.Request] = []
        self.done = asyncio.Event()
        self.first = False

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = _DeadSocket(self.room, first=self.first)
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

    async def slip_in(self, url: str, sender_socket) -> list:
        """Add two dead sockets to the room, the first one *first* in ``list(room)``: a
        broadcast that stops at the first failing send then misses every live member.

        A set's order follows its slots, not insertion: a newcomer whose hash collides with the
        members' (``id``-based, so often) probes on and sorts last. The first ghost hashes to 0
        and goes into the emptied set before the others, so it keeps slot 0 through any resize.
        """
        members = self.room
        dead = [await self.make(url, first=True), await self.make(url)]
        live = list(members)
        members.clear()
        members.add(dead[0])
        for member in live:
            members.add(member)
        members.add(dead[1])
        while not _live_member_after_a_ghost(list(members), dead, sender_socket):
            if len(dead) == MAX_GHOSTS:  # not a built-in set: keep what order it gives
                break
            dead.append(await self.make(url, first=True))
            members.add(dead[-1])
        return dead

    async def release(self) -> None:
        self.done.set()


def _live_member_after_a_ghost(order: list, dead: list, sender_socket) -> bool:
    first = next(i for i, m in enumerate(order) if any(m is g for g in dead))
    after = [m for m in order[first + 1 :] if not any(m is g for g in dead)]
    if sender_socket is None:
        return len(after) >= 2  # one of them may be the sender's own
    return any(m is not sender_socket for m in after)


async def stall(server_side: asyncio.WriteTransport, client_side: asyncio.Transport) -> None:
    """Leave a live member's connection closing but not closed: the client stops reading, the
    server's write buffer fills with bytes it will never read, and the server closes its end.
    Sends to the socket then fail at once, while ``connection_lost`` (which would tell its
    handler, parked in ``async for``) waits for a buffer that never drains, until the client
    resets the connection (``client_side.abort()``)."""
    client_side.pause_reading()
    chunk = bytes(1 << 20)
    for _ in range(256):  # the kernel's buffers take some MiB (Linux: at most 4 + 32)
        if server_side.get_write_buffer_size():
            break
        server_side.write(chunk)
        await asyncio.sleep(0)
    for _ in range(8):  # more than a send buffer can still grow by (Linux: 4 MiB)
        server_side.write(chunk)
    server_side.close()


class Member:
    """A client in the room, reading everything the room sends it in the background."""

    def __init__(self, number: int, ws: ClientConnection) -> None:
        self.number, self.ws, self.inbox = number, ws, []
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                self.inbox.append(message)


def server_side(client: Member, running: list[web.Request]):
    """The server's end of ``client``'s connection (the request whose peer is its socket)."""
    mine = client.ws.transport.get_extra_info("sockname")
    for request in running:
        transport = request.transport
        if transport is not None and transport.get_extra_info("peername") == mine:
            return transport
    raise LookupError(f"no request served {mine}")
