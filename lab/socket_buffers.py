"""Where the bytes wait: the kernel's socket buffers, as the system reports them (lesson 11
introduces it).

A byte a server "sent" may still be in one of four places: the server process's own buffer
(asyncio's transport, ``transport.get_write_buffer_size()``), the server's kernel send queue
(``SIOCOUTQ``: written by the process, not yet acknowledged by the peer), the client's kernel
receive queue (``SIOCINQ``: arrived, not yet read by the client), or the client's own
buffer. ``SO_SNDBUF`` and ``SO_RCVBUF`` are the kernel's limits for the two queues; on Linux
they grow by themselves ("autotuning") up to the maxima in ``/proc/sys/net/ipv4/tcp_wmem``
and ``tcp_rmem`` unless the program sets them (``tcp(7)``, ``socket(7)``).

``Buffers.of(sock)`` reads all of it from one socket; ``tcp_mem_sysctl`` reads the
``min default max`` triples; ``stall_one_stream`` puts a stalled stream's bytes in their places
and reads them.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from dataclasses import dataclass
from pathlib import Path

SIOCOUTQ = termios.TIOCOUTQ
"""Linux: bytes in a TCP socket's send queue not yet acknowledged (``tcp(7)``: "SIOCOUTQ …
returns the amount of unsent data in the socket send queue"; same number as ``TIOCOUTQ``)."""
SIOCINQ = termios.FIONREAD
"""Linux: bytes in a TCP socket's receive queue not yet read (``tcp(7)``, same as ``FIONREAD``)."""


def _ioctl_int(sock: socket.socket, request: int) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0]


def outq(sock: socket.socket) -> int:
    """Bytes this socket's kernel still holds to send (``SIOCOUTQ``)."""
    return _ioctl_int(sock, SIOCOUTQ)


def inq(sock: socket.socket) -> int:
    """Bytes this socket's kernel holds that the program has not read yet (``SIOCINQ``)."""
    return _ioctl_int(sock, SIOCINQ)


@dataclass(frozen=True)
class Buffers:
    """One socket's kernel buffers: the two limits and what sits in each queue now."""

    sndbuf: int
    rcvbuf: int
    outq: int
    inq: int

    @classmethod
    def of(cls, sock: socket.socket) -> Buffers:
        return cls(
            sndbuf=sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
            rcvbuf=sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
            outq=outq(sock),
            inq=inq(sock),
        )


def tcp_mem_sysctl(name: str) -> tuple[int, int, int]:
    """``tcp_wmem`` or ``tcp_rmem``: the kernel's ``min default max`` buffer sizes in bytes."""
    if name not in ("tcp_wmem", "tcp_rmem"):
        raise ValueError(f"tcp_wmem or tcp_rmem, not {name!r}")
    low, default, high = (int(v) for v in Path(f"/proc/sys/net/ipv4/{name}").read_text().split())
    return low, default, high


def small_receiver(rcvbuf: int | None) -> socket.socket:
    """A non-blocking TCP socket whose receive buffer is fixed at ``rcvbuf`` bytes before it
    connects (``None``: the kernel's default, autotuned). Linux doubles the value asked for,
    to leave room for its bookkeeping (``socket(7)``, ``SO_RCVBUF``), and stops autotuning it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True)
class StalledStream:
    """Where the bytes of one stalled SSE stream of the feed were, once its writes waited."""

    published: int
    """Bytes of events the server's one task had written (the last one still waiting), plus
    the response's head. The request is HTTP/1.0, so the body is not chunked."""
    process: int
    """In the server's transport buffer."""
    server: Buffers
    client: Buffers
    rss_growth: int
    """How much this process's resident memory grew meanwhile."""

    @property
    def in_kernels(self) -> int:
        return self.server.outq + self.client.inq


def stall_one_stream(*, sndbuf: int | None = None, size: int = 1500) -> StalledStream:
    """Serve the naive design of ``lab.backpressure`` (one task awaiting each write, no queue),
    open one ``GET /events`` from a socket in this process that never reads, and publish
    posts of ``size`` characters, 64 at a time, until the server's task waits in a write (a
    batch not written within 0.3 s, scaled); then say where the bytes are. ``sndbuf``:
    cap the server's send buffer (``None``: the system's default, autotuned)."""
    import psutil

    from lab.backpressure import FanOut, Holdings
    from servers import serve
    from servers.events import post_event
    from servers.feed import Feed
    from servers.timing import scaled, wait_until

    feed, holdings = Feed(history=128, max_text=max(size, 1000)), Holdings(sndbuf=sndbuf)
    design = FanOut("naive", feed=feed, holdings=holdings)
    rss = psutil.Process().memory_info().rss
    with serve(design.app(), name="lesson11-stalled-stream") as server:
        client = socket.create_connection((server.host, server.port))
        client.sendall(b"GET /events HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
        wait_until(lambda: len(design.clients) == 1, 10, "the stream")
        (transport,) = list(holdings.transports)
        stream, posts = design.clients[0], {}

        sock = transport.get_extra_info("socket")
        while True:
            batch = [feed.publish("x" * size) for _ in range(64)]
            posts.update((p["id"], len(post_event(p))) for p in batch)  # sizes, not posts
            last = batch[-1]["id"]
            try:  # a batch takes milliseconds to write while the buffers have room
                wait_until(lambda last=last: stream.last_sent >= last, 0.3, "the writes")
            except TimeoutError:
                break  # the task waits in a write
        _settle(
            lambda: (stream.last_sent, transport.get_write_buffer_size(), outq(sock), inq(client)),
            scaled(5),
        )
        # the write it waits in has handed its bytes to the transport already
        written = sum(n for i, n in posts.items() if i <= stream.last_sent + 1)
        result = StalledStream(
            written,
            transport.get_write_buffer_size(),
            Buffers.of(sock),
            Buffers.of(client),
            psutil.Process().memory_info().rss - rss,
        )
        client.close()
    return result


def _settle(read, timeout: float, every: float = 0.1) -> None:
    """Until ``read()`` gives the same value twice ``every`` seconds apart (or ``timeout``)."""
    import time

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = read()
        if now == last:
            return
        last = now
        time.sleep(every)
