"""A WebSocket server with fast clients and one that stops reading, for exercise 11's check
(lesson 11).

The server (``Stage``) runs the learner's broadcaster the way a real one would: each
connection's handler wraps its socket in a ``Client`` (``send``, ``close``, and counters the
check reads), subscribes it, reads until the connection ends, then unsubscribes it. The fast
clients (``Reader``, the ``websockets`` library) read everything at once; the stalled one is a
real socket that stops reading after its handshake. Loopback buffers would absorb megabytes
before a send to it waited, so its kernel buffers are shrunk (``SO_RCVBUF`` on the client,
``SO_SNDBUF`` on the server's end): what is left is aiohttp's own writer buffer, about 256 KiB,
some 15 posts of 16 KiB (measured: the 16th send to it waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from typing import Any

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from servers.timing import scaled

SMALL_BUFFER = 4096
"""Bytes asked for the stalled connection's kernel buffers (Linux doubles it)."""
CLOSE_GRACE = 5.0
"""Seconds (scaled) a closed client has to take its close frame before the connection is cut."""
STALLED = "stalled"


class NotPlain(Exception):
    """A method the server calls without awaiting (subscribe, unsubscribe) is ``async def``."""

    def __init__(self, method: str) -> None:
        super().__init__(method)
        self.method = method


class Client:
    """One subscriber as the broadcaster sees it: ``await client.send(message)`` and
    ``client.close(code, reason)``; the rest is for the check."""

    def __init__(self, name: str, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.name, self._ws, self._request = name, ws, request
        self.started = self.sent = self.in_flight = self.most_in_flight = 0
        self.closes: list[tuple[int, str, int]] = []
        """Each ``close(code, reason)`` call, with the number of posts published by then."""
        self.tasks: set[asyncio.Task] = set()
        """The tasks the broadcaster's ``subscribe(client)`` started."""
        self.left = False
        self.published = 0  # set by the stage before each publish
        self.closing: asyncio.Task | None = None
        self.after_leaving: list[str] = []

    def __repr__(self) -> str:
        return f"<Client {self.name}>"

    async def send(self, message: str) -> None:
        """Send one text message; waits while the connection's buffers are full."""
        if self.left:
            self.after_leaving.append("send")
        self.started += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._unpoison()
            await self._ws.send_str(message)
            self.sent += 1
        finally:
            self.in_flight -= 1

    def close(self, code: int, reason: str) -> None:
        """End the connection with a close frame (``code``, ``reason``) and return at once.

        The frame goes behind what the client has not read yet; a client that has not taken it
        within ``CLOSE_GRACE`` seconds is cut off."""
        if self.left:
            self.after_leaving.append("close")
        self.closes.append((code, reason, self.published))
        if self.closing is None:
            self.closing = asyncio.ensure_future(self._close(code, str(reason)))

    def _unpoison(self) -> None:
        """aiohttp 3.14 shares one drain waiter per connection: a send cancelled while it
        waited (a task cancelled, a ``wait_for`` that ran out) cancels that waiter, and every
        later send or close on the socket then raises CancelledError at once. Forget it."""
        protocol = self._request.protocol
        waiter = getattr(protocol, "_drain_waiter", None)
        if waiter is not None and waiter.cancelled():
            protocol._drain_waiter = None

    @property
    def stalled(self) -> bool:
        """Whether bytes wait in the server's own buffer: the kernel's are full."""
        transport = self._request.transport
        return transport is not None and transport.get_write_buffer_size() > 0

    async def _close(self, code: int, reason: str) -> None:
        self._unpoison()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(scaled(CLOSE_GRACE)):
                with contextlib.suppress(ConnectionError, RuntimeError, ValueError):
                    await self._ws.close(code=code, message=reason.encode()[:123])
                while self._request.transport is not None:  # until the client took it all
                    await asyncio.sleep(0.02)
        if self._request.transport is not None:
            self._request.transport.abort()

    @property
    def backlog(self) -> int:
        """Posts published to this client and not yet taken to be sent."""
        return self.published - self.started


class Stage:
    """The server serving ``broadcaster`` at ``/ws``, and the clients it has."""

    def __init__(self, broadcaster: Any) -> None:
        self.broadcaster = broadcaster
        self.clients: dict[str, Client] = {}
        self.crashes: list[tuple[str, BaseException]] = []
        """What the learner's subscribe and unsubscribe raised: (method, exception)."""
        self.app = web.Application()
        self.app.router.add_get("/ws", self._handler)

    def _call(self, method: str, client: Client) -> None:
        try:
            result = getattr(self.broadcaster, method)(client)
        except Exception as error:
            self.crashes.append((method, error))
            return
        if inspect.isawaitable(result):
            with contextlib.suppress(Exception):
                result.close()
            self.crashes.append((method, NotPlain(method)))

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        name = request.query.get("client", "?")
        ws = web.WebSocketResponse()
        if name == STALLED:
            raw = request.transport.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        await ws.prepare(request)
        client = self.clients[name] = Client(name, ws, request)
        before = asyncio.all_tasks()
        self._call("subscribe", client)
        client.tasks = asyncio.all_tasks() - before
        try:
            async for _ in ws:
                pass  # the clients only listen
        finally:
            client.left = True
            self._call("unsubscribe", client)
        return ws

    async def wait_for_clients(self, names: list[str]) -> bool:
        return await until(lambda: all(n in self.clients for n in names) or bool(self.crashes))

    async def release(self) -> None:
        """End every close still under way (the server's stop ends the handlers)."""
        closing = [c.closing for c in self.clients.values() if c.closing is not None]
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)


class Reader:
    """A client that reads every message as it arrives, noting the post numbers and times."""

    def __init__(self, name: str, ws: ClientConnection) -> None:
        self.name, self.ws = name, ws
        self.got: list[int] = []
        self.times: dict[int, float] = {}
        self.odd: list[str] = []
        self.reading: asyncio.Task | None = None

    @classmethod
    async def connect(cls, url: str, name: str, *, stalled: bool = False) -> Reader:
        sock = None
        if stalled:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
            sock.setblocking(False)
            host, port = url.split("//")[1].split("/")[0].split(":")
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        ws = await connect(
            f"{url}?client={name}",
            sock=sock,
            compression=None,
            ping_interval=None,
            max_size=None,
            open_timeout=scaled(5),
            close_timeout=scaled(1),
        )
        reader = cls(name, ws)
        if stalled:
            ws.transport.pause_reading()
        else:
            reader.start()
        return reader

    def start(self) -> None:
        """Read from now on (a stalled client: read again)."""
        self.ws.transport.resume_reading()
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                number = post_number(message)
                if number is None:
                    self.odd.append(message if isinstance(message, str) else repr(message))
                else:
                    self.got.append(number)
                    self.times.setdefault(number, loop.time())

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), scaled(2))

    async def abort(self) -> None:
        self.ws.transport.abort()
        if self.reading is not None:
            self.reading.cancel()
            await asyncio.gather(self.reading, return_exceptions=True)


POST_SIZE = 16 * 1024


def make_post(number: int) -> str:
    """Post ``number``: a first line naming it, then filler to ``POST_SIZE`` characters."""
    head = f"post {number}\n"
    return head + "x" * (POST_SIZE - len(head))


def post_number(message: Any) -> int | None:
    if not isinstance(message, str) or not message.startswith("post "):
        return None
    first = message.split("\n", 1)[0][5:]
    return int(first) if first.isdigit() and message == make_post(int(first)) else None


async def until(condition, timeout: float = 2.0) -> bool:
    """Wait (at most ``scaled(timeout)`` s) for ``condition``; whether it holds."""
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True
