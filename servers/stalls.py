"""Letting a stuck client go: bounded socket buffers and a write timeout (lesson 11).

A client that stops reading does not tell the server. TCP acknowledges bytes as soon as they
land in the client's receive buffer, so the server sees nothing wrong until that buffer, its
own send buffer, and then the process's transport buffer are all full. On Linux loopback the
send buffer is autotuned up to ``net.ipv4.tcp_wmem``'s maximum (4 MiB here): measured, a
never-reading client absorbed 3.97 MB of SSE before one ``await response.write()`` blocked.
``bound_send_buffer`` asks the kernel for ``SEND_BUFFER`` bytes instead (Linux doubles the
request, socket(7)); the same client then absorbed about 0.2 MB (its own 128 KiB receive
buffer, 64 KiB in the server's kernel and aiohttp's transport buffer), so a stall shows within
a few hundred posts, not a few thousand.

A stream **stalls** when bytes wait for its peer (in the transport's write buffer, or in the
kernel's send queue: ``SIOCOUTQ``) and the peer acknowledges none of them (TCP_INFO's
``tcpi_bytes_acked`` stands still; where the system cannot say, the transport's buffer does
not shrink). ``StallWatch`` looks at every stream it watches a few times per ``write_timeout``
(one timer per watch, not one per stream) and lets go of a stream stalled for
``write_timeout`` seconds, as nginx's ``send_timeout`` measures the time between two
successive writes. Posts and heartbeats are both bytes that wait, so a quiet stalled stream
is let go too. What no server can see: a client that stopped reading while its receive buffer
still has room (TCP has acknowledged those bytes); only an application-level ack would tell.

Letting go means: the stream's farewell bytes (a WebSocket close frame) are queued, the
transport closes, and after ``CLOSE_GRACE`` seconds the connection is reset (``SO_LINGER`` 0):
a stalled peer would never read the close frame, and a gracefully closed socket with unsent
bytes stays open (asyncio flushes its buffer first, the kernel then keeps the orphan) as long
as the peer stays stuck. When every unsent byte is already in the kernel, asyncio's close is
immediate and there is no socket left to reset; so that socket first gets a
``TCP_USER_TIMEOUT`` of the grace (tcp(7), RFC 5482): bytes that stay unacknowledged, or
unsent behind a closed window, that long make the kernel drop the connection itself. It does
so silently: the peer learns at its next packet, answered with a reset. (Only then: on a
socket the process still holds, the timeout would drop a connection stalled for longer than
it at once, silently, before the grace's reset could tell the peer.)
Measured on loopback: without it, such an orphan was still in FIN-WAIT-1 when we stopped
watching after 39 s; with it, it was gone within 2 s (``tests/servers/test_stalls_reset.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from collections.abc import Callable

from aiohttp import web

from servers.rfc6455.codec import CLOSE, encode_frame

WRITE_TIMEOUT = 10.0
"""Seconds a stream may accept no write before the server lets it go. Twice Mercure's 5 s
``dispatch_timeout``, a sixth of nginx's 60 s ``send_timeout``; longer than TCP's first three
retransmissions (RFC 6298: an initial RTO of 1 s, doubled each time: 1 + 2 + 4 s), so a brief
loss of signal costs no reconnection, and short enough that a phone in a tunnel is not held.
Being let go is cheap for the client: it reconnects with ``Last-Event-ID`` and loses nothing
the history still holds (lesson 04)."""

SEND_BUFFER = 32 * 1024
"""Bytes asked of the kernel for a stream's send buffer (``SO_SNDBUF``; Linux doubles it).
It caps a stream at about 64 KiB in flight per round trip: 5 Mbit/s at 100 ms, plenty for a
feed, and what lets a stall show in the process instead of in the kernel."""

CLOSE_GRACE = 1.0
"""Seconds a stream that is let go has to take its last bytes before the connection is reset."""

SLOW_CLOSE_CODE = 4008
"""The WebSocket close code of a stream let go for being slow. RFC 6455 section 7.4.2 leaves
4000-4999 for private use (3000-3999 need IANA registration); 4008 echoes Centrifugo's 3008
"slow". Not 1008 (policy violation: about a message received) nor 1011 (an unexpected server
condition), and not 1013 (try again later: the server is overloaded): here the client is."""


SLOW_FAREWELL = encode_frame(CLOSE, struct.pack("!H", SLOW_CLOSE_CODE) + b"slow consumer")
"""The close frame queued for a WebSocket let go for being slow (a stalled peer never reads it)."""


def bound_send_buffer(transport: asyncio.BaseTransport, size: int = SEND_BUFFER) -> None:
    """Ask the kernel for a ``size``-byte send buffer on ``transport``'s socket (no-op without
    one, or where the system refuses)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def kernel_unsent(transport: asyncio.BaseTransport) -> int | None:
    """Bytes in the socket's send queue the peer has not acknowledged (Linux ``SIOCOUTQ``), or
    None where the system cannot say. Lesson 11 shows where a stalled stream's bytes wait."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return None
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return None
    return struct.unpack("i", raw)[0]


def reset(transport: asyncio.BaseTransport) -> None:
    """Close ``transport``'s connection at once, discarding what is unsent (a TCP RST).

    A connection already gone (its protocol told, ``get_protocol()`` None) is left alone:
    asyncio's ``abort()`` fails on a transport whose close completed once its buffer drained.
    """
    if transport.get_protocol() is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.fileno() >= 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def let_go(transport: asyncio.Transport, farewell: bytes = b"", grace: float = CLOSE_GRACE) -> None:
    """Queue ``farewell``, close ``transport``, and reset it after ``grace`` seconds; the kernel
    drops it by itself if its close completes at once (see the module)."""
    if transport.is_closing():
        reset(transport)
        return
    if farewell:
        transport.write(farewell)
    if transport.get_write_buffer_size() == 0 and kernel_unsent(transport):
        _give_up_after(transport, grace)  # the close below is immediate: nothing to reset
    transport.close()
    asyncio.get_running_loop().call_later(grace, reset, transport)


def _give_up_after(transport: asyncio.BaseTransport, seconds: float) -> None:
    """``TCP_USER_TIMEOUT`` (Linux): the kernel drops the connection once bytes have waited
    ``seconds`` for the peer, even after the process has closed the socket."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0 or not hasattr(socket, "TCP_USER_TIMEOUT"):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, round(seconds * 1000)))


def _bytes_acked(transport: asyncio.BaseTransport) -> int | None:
    """TCP_INFO's ``tcpi_bytes_acked`` (Linux 4.1+; a u64 at offset 120), else None."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0 or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 136)
    except OSError:
        return None
    return struct.unpack_from("Q", raw, 120)[0] if len(raw) >= 128 else None


def waiting_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes written to ``transport`` that its peer has not acknowledged: in the process (the
    transport's buffer) and in the kernel (``kernel_unsent``)."""
    return transport.get_write_buffer_size() + (kernel_unsent(transport) or 0)


class _Watched:
    __slots__ = ("transport", "on_stall", "since", "mark")

    def __init__(self, transport: asyncio.Transport, on_stall: Callable[[], None]) -> None:
        self.transport, self.on_stall = transport, on_stall
        self.since: float | None = None  # since when bytes have waited with no progress
        self.mark: int | None = None  # the progress seen then: bytes acked, or bytes waiting

    def progressed(self) -> bool | None:
        """None: nothing waits. Else whether the peer took bytes since the last look."""
        if waiting_bytes(self.transport) == 0:
            return None
        acked = _bytes_acked(self.transport)
        if acked is not None:
            moved, self.mark = acked != self.mark, acked
        else:  # no counter of acknowledged bytes: progress is the buffer shrinking
            left = self.transport.get_write_buffer_size()
            moved, self.mark = self.mark is None or left < self.mark, left
        return moved


class StallWatch:
    """Lets go of the streams it watches once they accept no write for ``write_timeout`` s.

    One per app. ``watch(transport, on_stall)`` returns a key for ``forget``; ``on_stall()`` is
    called once, on the loop, and must let the stream go (``let_go``) and end its handler.
    The watch's timer runs only while it watches a stream, so it leaves nothing behind.
    ``let_go_count`` counts the streams let go.
    """

    CHECKS = 4
    """Checks per ``write_timeout``: a stream is let go at most a quarter late."""

    def __init__(self, write_timeout: float = WRITE_TIMEOUT) -> None:
        if not write_timeout > 0:
            raise ValueError(
                f"write_timeout must be a positive number of seconds: {write_timeout!r}"
            )
        self.write_timeout = write_timeout
        self.let_go_count = 0
        self._streams: dict[int, _Watched] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._keys = iter(range(1, 1 << 62))

    def watch(self, transport: asyncio.Transport, on_stall: Callable[[], None]) -> int:
        key = next(self._keys)
        self._streams[key] = _Watched(transport, on_stall)
        if self._timer is None:
            self._schedule()
        return key

    def forget(self, key: int) -> None:
        self._streams.pop(key, None)
        if not self._streams and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __len__(self) -> int:
        return len(self._streams)

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.write_timeout / self.CHECKS, self._check)

    def _check(self) -> None:
        now = asyncio.get_running_loop().time()
        for key, stream in list(self._streams.items()):
            progressed = stream.progressed()
            if progressed is None:
                stream.since = None
            elif progressed or stream.since is None:
                stream.since = now
            elif now - stream.since >= self.write_timeout:
                self._streams.pop(key)
                self.let_go_count += 1
                stream.on_stall()
        self._timer = None
        if self._streams:
            self._schedule()


STALLS = web.AppKey("stall_watch", StallWatch)
"""An app's ``StallWatch`` (``servers.feed.make_app`` sets it): its streams are watched."""


def watch_stream(
    request: web.Request, farewell: bytes = b"", *, cancel: bool = False
) -> int | None:
    """Once a stream's response is prepared: bound its send buffer and watch it with the
    app's ``STALLS`` (nothing when the app has none). A stall lets the connection go with
    ``farewell`` and, with ``cancel``, cancels the handler (one parked in a wait). Returns the
    key for ``unwatch``."""
    watch, transport = request.app.get(STALLS), request.transport
    if watch is None or transport is None:
        return None
    bound_send_buffer(transport)
    handler = asyncio.current_task() if cancel else None

    def on_stall() -> None:
        let_go(transport, farewell)
        if handler is not None:
            handler.cancel()

    return watch.watch(transport, on_stall)


def unwatch(request: web.Request, key: int | None) -> None:
    """The stream has ended: stop watching it."""
    if key is not None:
        request.app[STALLS].forget(key)
