"""Four ways to fan one post out to many clients, and what one slow client does to each
(lesson 11 introduces them).

Every design takes its posts from a ``servers.feed.Feed`` (so ``feed.publish`` works from a
cell, and every post carries the feed's ``id`` and ``ts``) and serves ``GET /events`` (SSE,
the feed's framing) and ``GET /ws`` (each post as a JSON text message):

- ``"naive"``: one task loops over the clients and awaits each client's write in turn;
- ``"unbounded"``: a queue per client with no bound, drained by the client's own task (what
  many tutorials write, e.g. an ``asyncio.Queue`` per ``aiohttp-sse`` response);
- ``"bounded"``: a queue per client of ``queue_posts`` posts and a ``policy`` for a full one
  (``POLICIES``);
- ``"cursor"``: the course's feed itself (``servers.feed.make_app``): each stream keeps its
  own cursor into the one shared, bounded history.

``FanOut(design).app()`` is the application to ``servers.serve``. ``Holdings`` watches any
app: it counts the open streams and samples, every ``every`` seconds, the bytes the process
holds for its clients (the design's queues plus every connection's transport write buffer).
It also caps each connection's kernel send buffer (``SO_SNDBUF``) when asked, so that a
stalled client fills its buffers in a fraction of a second instead of megabytes later
(``lab.socket_buffers`` measures the defaults).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from servers.events import HEADERS, post_event
from servers.feed import Feed, make_app
from servers.http import compact_json
from servers.sse import encode_event
from servers.stalls import SLOW_CLOSE_CODE, SLOW_FAREWELL, reset

DESIGNS = ("naive", "unbounded", "bounded", "cursor")
POLICIES = ("block", "drop-oldest", "latest", "disconnect")
SLOW_CLOSE = SLOW_CLOSE_CODE
"""The close code the ``disconnect`` policy sends a WebSocket: the feed's own 4008
(``servers.stalls``: private use, RFC 6455 section 7.4.2; after Centrifugo's 3008 "slow")."""


@dataclass
class Holdings:
    """What a server holds for its clients, sampled on the servers' loop."""

    sndbuf: int | None = None
    """``SO_SNDBUF`` set on each connection's socket (``None``: the system's default)."""
    write_buffer: int | None = None
    """The high-water mark of each transport's write buffer (asyncio's default: 64 KiB), past
    which aiohttp's ``write`` waits (``None``: the default)."""
    every: float = 0.05
    queued: object = None
    """A callable giving the bytes a design holds in its own queues (``None``: none)."""
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    """``(time.time(), bytes held, of which in the design's own queues)``."""
    transports: weakref.WeakSet = field(default_factory=weakref.WeakSet)

    def watch(self, app: web.Application) -> web.Application:
        """Hook into ``app``: note each stream's transport, sample while it serves."""

        async def prepared(request: web.Request, response: web.StreamResponse) -> None:
            transport = request.transport
            if transport is None or response.headers.get("Content-Type", "").startswith("app"):
                return
            self.transports.add(transport)
            sock = transport.get_extra_info("socket")
            if self.sndbuf is not None and sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            if self.write_buffer is not None:
                transport.set_write_buffer_limits(high=self.write_buffer)

        app.on_response_prepare.append(prepared)
        app.cleanup_ctx.append(_while_serving(self._sample))
        return app

    @property
    def open_streams(self) -> int:
        return sum(1 for t in list(self.transports) if not t.is_closing())

    def held(self) -> tuple[int, int]:
        """Bytes held now: the transports' write buffers, and the design's own queues."""
        open_ = [t for t in list(self.transports) if not t.is_closing()]
        buffers = sum(t.get_write_buffer_size() for t in open_)
        return buffers, (self.queued() if self.queued else 0)

    async def _sample(self) -> None:
        while True:
            buffers, queued = self.held()
            self.samples.append((time.time(), buffers + queued, queued))
            await asyncio.sleep(self.every)

    def window(self, start: float, end: float) -> list[tuple[float, int, int]]:
        """The samples taken between ``start`` and ``end``."""
        return [sample for sample in list(self.samples) if start <= sample[0] <= end]


@dataclass(eq=False)
class _Client:
    """One connection of a queue design: its queue, and what its policy did to it."""

    send: object  # async callable(bytes or str)
    kind: str
    queue: deque = field(default_factory=deque)
    queued_bytes: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    last_sent: int = 0
    kicked: bool = False
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, post: dict, data, limit: int | None, policy: str) -> bool:
        """Queue one post under ``policy``; False when the client must be disconnected."""
        if limit is not None and len(self.queue) >= limit:
            if policy == "disconnect":
                self.kicked = True
                self.wake.set()
                return False
            if policy in ("drop-oldest", "latest"):
                while len(self.queue) >= (1 if policy == "latest" else limit):
                    self._take()
                    self.dropped += 1
        self.queue.append((post, data))
        self.queued_bytes += len(data)
        self.wake.set()
        return True

    def _take(self):
        post, data = self.queue.popleft()
        self.queued_bytes -= len(data)
        if len(self.queue) == 0:
            self.wake.clear()
        self.room.set()
        return post, data


class FanOut:
    """One of ``DESIGNS`` serving the posts of ``feed`` (a new ``Feed`` when not given)."""

    def __init__(
        self,
        design: str,
        *,
        policy: str = "drop-oldest",
        queue_posts: int = 32,
        feed: Feed | None = None,
        holdings: Holdings | None = None,
    ) -> None:
        if design not in DESIGNS:
            raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.design, self.policy, self.queue_posts = design, policy, queue_posts
        self.feed = feed if feed is not None else Feed(history=256, max_text=10_000)
        self.holdings = holdings if holdings is not None else Holdings()
        self.clients: list[_Client] = []
        self.kicked = 0
        if design in ("unbounded", "bounded"):
            self.holdings.queued = lambda: sum(c.queued_bytes for c in list(self.clients))

    def __repr__(self) -> str:
        policy = f", {self.policy}" if self.design == "bounded" else ""
        return f"<FanOut {self.design}{policy}, {len(self.clients)} clients>"

    def app(self) -> web.Application:
        if self.design == "cursor":
            return self.holdings.watch(make_app(self.feed))
        app = web.Application()
        app.router.add_get("/events", self._sse)
        app.router.add_get("/ws", self._ws)

        app.cleanup_ctx.append(_while_serving(self._pump))
        return self.holdings.watch(app)

    # --- the one task that takes each post from the feed to the clients -----------------------

    async def _pump(self) -> None:
        since = self.feed.last_id
        while True:
            posts = await self.feed.wait_for_posts(since, 1.0)
            for post in posts:
                await self._fan_out(post)
                since = post["id"]

    async def _fan_out(self, post: dict) -> None:
        sse, text = post_event(post), compact_json(post)
        for client in list(self.clients):
            if client.kicked:
                continue
            data = sse if client.kind == "sse" else text
            if self.design == "naive":
                try:
                    await client.send(data)  # the whole loop waits for this one client
                    client.last_sent = post["id"]
                except (ConnectionError, RuntimeError):
                    client.gone.set()
                continue
            limit = None if self.design == "unbounded" else self.queue_posts
            if self.design == "bounded" and self.policy == "block":
                while len(client.queue) >= limit and not client.gone.is_set():
                    client.room.clear()
                    await client.room.wait()  # every other client waits with it
            if not client.push(post, data, limit, self.policy):
                self.kicked += 1

    # --- one handler per connection --------------------------------------------------------

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=HEADERS)
        await response.prepare(request)
        client = _Client(response.write, "sse")
        await self._serve(client)
        if client.kicked:  # the stream ends: EventSource reconnects with Last-Event-ID
            _let_go(request.transport, b"")
        return response

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        client = _Client(ws.send_str, "ws")
        reading = asyncio.ensure_future(_until_closed(ws, client))
        try:
            await self._serve(client)
            if client.kicked:  # a close frame with 4008 behind what is queued, then the end
                _let_go(request.transport, SLOW_FAREWELL)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        return ws

    async def _serve(self, client: _Client) -> None:
        self.clients.append(client)
        try:
            if self.design == "naive":
                await client.gone.wait()
            else:
                await self._drain(client)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            client.gone.set()
            client.room.set()
            self.clients.remove(client)
            client.queue.clear()
            client.queued_bytes = 0

    async def _drain(self, client: _Client) -> None:
        while not client.gone.is_set():
            await client.wake.wait()
            if client.kicked:
                return
            if not client.queue:
                continue
            post, data = client._take()
            if client.dropped and client.kind == "sse" and self.policy == "drop-oldest":
                notice = {"missed_after": client.last_sent, "oldest_held": post["id"]}
                await client.send(encode_event(json.dumps(notice), event="gap"))
            elif client.dropped and self.policy == "drop-oldest":
                notice = {"missed_after": client.last_sent, "oldest_held": post["id"]}
                await client.send(json.dumps({"gap": notice}))
            client.dropped = 0
            await client.send(data)
            client.last_sent = post["id"]


def _while_serving(work):
    """An aiohttp cleanup context running the task ``work()`` while the app serves."""

    async def context(app: web.Application):
        task = asyncio.ensure_future(work())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return context


LET_GO_GRACE = 2.0
"""Seconds a disconnected slow client has to read what is queued for it (its WebSocket's
close frame last) before the connection is reset, as the feed does (``servers.stalls``): a
transport that closes gracefully keeps its unsent bytes until the peer reads them, which a
stalled peer never does."""


def _let_go(transport: asyncio.Transport | None, farewell: bytes) -> None:
    if transport is None or transport.is_closing():
        return
    if farewell:
        transport.write(farewell)
    transport.close()
    asyncio.get_running_loop().call_later(LET_GO_GRACE, reset, transport)


async def _until_closed(ws: web.WebSocketResponse, client: _Client) -> None:
    """Read (and ignore) what a WebSocket client sends, so its close is noticed."""
    async for _ in ws:
        pass
    client.gone.set()
    client.wake.set()
