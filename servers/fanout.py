"""Fast fan-out: one broadcaster per feed writes each post to every stream (lesson 11).

The feed's first streams (lessons 03 and 07) each ran a loop of their own: per post and per
client a future woken, a lock taken, the post copied and encoded, the write awaited. A
``Hub`` does that work once per post: the feed wakes it once (``Feed.listen``), it reads the
new posts once, encodes them once per wire format (an SSE event in a chunk or bare, a
WebSocket text frame) and hands the same bytes to every stream that is keeping up with
``transport.write``, awaiting none of them.

A stream is **live** while it keeps up: its transport holds at most ``LIVE_LIMIT`` bytes it
could not send yet, new posts included. One that would hold more is not written to (nor is
any stream, for a burst of posts bigger than that); it leaves the live set and its
own handler takes over, catching up from its cursor into the feed's shared history with
awaited writes (the slow path: a ``gap`` notice first when the history no longer reaches
back to it), and rejoins once it is level with the hub. A stream that makes no progress at
all is the write timeout's business (``servers.stalls``), not the hub's. So a slow client
costs the others nothing and the server no copy of the posts it missed.

The hub also sends the SSE heartbeat comment to its live streams after ``heartbeat`` seconds
of quiet, and counts its live streams in ``Feed.waiting`` (``Feed.park``), as lessons 09 and
10 count held streams and sockets. ``Hubs`` finds the hub of a request's feed (looked up per
request: lesson 10 swaps an app's feed); a hub with no streams stops listening.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable

from servers.feed.model import Feed
from servers.http import compact_json
from servers.rfc6455.codec import TEXT, encode_frame
from servers.sse import encode_comment, encode_event

LIVE_LIMIT = 64 * 1024
"""Bytes a stream's transport may hold unsent and still be written to by the hub (asyncio's
default high-water mark for a transport's buffer)."""

SSE_CHUNKED, SSE_BARE, WEBSOCKET = "sse-chunked", "sse", "ws"
"""The wire formats a hub encodes for: SSE in an HTTP/1.1 chunked body, SSE in a body that
ends with the connection (HTTP/1.0), WebSocket text frames."""

HEARTBEAT = encode_comment("heartbeat")


def post_event(post: dict) -> bytes:
    """A post as one SSE event: ``id`` the post's id, ``data`` its JSON."""
    return encode_event(compact_json(post), id=post["id"])


def gap_event(missed_after: int, oldest_held: int) -> bytes:
    """The SSE ``gap`` notice: posts after ``missed_after`` are gone up to ``oldest_held``."""
    notice = {"missed_after": missed_after, "oldest_held": oldest_held}
    return encode_event(json.dumps(notice), event="gap")


def missed(feed: Feed, cursor: int, posts: list[dict]) -> bytes:
    """A ``gap`` notice when the history no longer reaches back to ``cursor`` (``posts``: what
    it holds after ``cursor``), else nothing."""
    oldest = feed.oldest_id
    if cursor == 0 or cursor + 1 >= oldest:
        return b""
    return gap_event(cursor, posts[0]["id"] if posts else oldest)


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (RFC 9112 section 7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode(kind: str, posts: list[dict], gap: bytes = b"") -> bytes:
    """``posts`` (after a ``gap`` notice, for SSE) in the wire format ``kind``."""
    if kind == WEBSOCKET:
        return b"".join(encode_frame(TEXT, compact_json(post).encode()) for post in posts)
    events = gap + b"".join(post_event(post) for post in posts)
    return chunk(events) if kind == SSE_CHUNKED else events


class Stream:
    """One client's stream in a hub: its transport, wire format, and the last post it has.
    ``closed()`` says when nothing more may be written (default: the transport is closing;
    a WebSocket also once its close frame is sent)."""

    __slots__ = ("transport", "kind", "cursor", "woken", "closed")

    def __init__(
        self,
        transport: asyncio.Transport,
        kind: str,
        cursor: int,
        closed: Callable[[], bool] | None = None,
    ) -> None:
        self.transport, self.kind, self.cursor = transport, kind, cursor
        self.closed = closed or transport.is_closing
        self.woken: asyncio.Future | None = None


CatchUp = Callable[[Stream, int], Awaitable[None]]
"""``catch_up(stream, upto)``: write the posts after ``stream.cursor`` up to ``upto`` with
awaited writes and move the cursor on (a route's slow path), a piece of at most about
``PIECE`` bytes per write so that its buffer stays bounded."""

PIECE = 32 * 1024
"""Bytes of posts a catching-up stream writes at a time (``pieces``)."""


def pieces(posts: list[dict], encode_one: Callable[[dict], bytes]) -> list[bytes]:
    """``posts`` encoded, joined into pieces of about ``PIECE`` bytes each."""
    result, piece, size = [], [], 0
    for post in posts:
        data = encode_one(post)
        piece.append(data)
        size += len(data)
        if size >= PIECE:
            result.append(b"".join(piece))
            piece, size = [], 0
    if piece:
        result.append(b"".join(piece))
    return result


class Hub:
    """The broadcaster of one feed for one route on one loop (see the module's docstring)."""

    def __init__(self, feed: Feed, heartbeat: float | None) -> None:
        self.feed, self.heartbeat = feed, heartbeat
        self.last = feed.last_id
        self.live: dict[Stream, None] = {}  # an ordered set
        self.members = 0
        self._stop_listening: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_write = 0.0

    async def serve(self, stream: Stream, catch_up: CatchUp, *, for_socket: bool = False):
        """Keep ``stream`` fed until it ends (cancelled, or its connection lost): caught up by
        ``catch_up``, then live; back to ``catch_up`` whenever the hub had to skip it."""
        self._join()
        try:
            while not stream.closed():
                if stream.cursor > self.last:  # the hub's wake-up is still on its way
                    self._on_posts()
                while stream.cursor < self.last:
                    await catch_up(stream, self.last)
                    if stream.closed():
                        return
                stream.woken = self._loop.create_future()
                self.live[stream] = None
                self.feed.park(for_socket=for_socket)
                try:
                    await stream.woken
                finally:
                    self.live.pop(stream, None)
                    self.feed.park(-1, for_socket=for_socket)
        finally:
            self._leave()

    def _join(self) -> None:
        self.members += 1
        if self._stop_listening is None:
            self._loop = asyncio.get_running_loop()
            self.last = self.feed.last_id
            self._stop_listening = self.feed.listen(self._on_posts)
            self._last_write = self._loop.time()
            self._schedule_heartbeat()

    def _leave(self) -> None:
        self.members -= 1
        if self.members == 0 and self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _on_posts(self) -> None:
        posts = self.feed.since(self.last)
        if not posts:
            return
        gap = missed(self.feed, self.last, posts)  # woken too late: the history moved on
        self._broadcast(lambda kind: encode(kind, posts, gap), posts[-1]["id"])

    def _broadcast(self, encoded: Callable[[str], bytes], last: int | None) -> None:
        """Write ``encoded(kind)`` (computed once per kind) to every live stream that keeps up;
        wake the handlers of the others. ``last``: the post id the streams reach (None for a
        heartbeat, which only SSE streams get)."""
        cache: dict[str, bytes] = {}
        for stream in list(self.live):
            kind = stream.kind
            if last is None and kind == WEBSOCKET:
                continue
            data = cache.get(kind)
            if data is None:
                data = cache[kind] = encoded(kind)
            transport = stream.transport
            if stream.closed() or transport.get_write_buffer_size() + len(data) > LIVE_LIMIT:
                self._skip(stream)  # a burst bigger than that is caught up in pieces, too
                continue
            transport.write(data)
            if last is not None:
                stream.cursor = last
        if last is not None:
            self.last = last
        self._last_write = self._loop.time()

    def _skip(self, stream: Stream) -> None:
        self.live.pop(stream, None)
        if stream.woken is not None and not stream.woken.done():
            stream.woken.set_result(None)

    def _schedule_heartbeat(self) -> None:
        if self.heartbeat is not None:
            when = self._last_write + self.heartbeat
            self._timer = self._loop.call_at(when, self._heartbeat)

    def _heartbeat(self) -> None:
        if self._loop.time() >= self._last_write + self.heartbeat:
            self._broadcast(
                lambda kind: chunk(HEARTBEAT) if kind == SSE_CHUNKED else HEARTBEAT, None
            )
        self._schedule_heartbeat()


class Hubs:
    """The hub of each feed a route serves, made on first use (``heartbeat``: SSE's)."""

    def __init__(self, heartbeat: float | None = None) -> None:
        self.heartbeat = heartbeat
        self._hubs: weakref.WeakKeyDictionary[Feed, Hub] = weakref.WeakKeyDictionary()

    def of(self, feed: Feed) -> Hub:
        hub = self._hubs.get(feed)
        if hub is None:
            hub = self._hubs[feed] = Hub(feed, self.heartbeat)
        return hub
