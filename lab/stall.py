"""Head-of-line blocking, staged: a relay that holds one connection's bytes back (lesson 13).

A lost TCP segment stalls its connection: the receiver's kernel hands nothing after the gap
to the application until the retransmission fills it (TCP delivers bytes in order, RFC 9293
section 3.10.7.4), so everything the connection carries waits together. ``StallRelay`` stages
that without losing anything: clients connect to it instead of the server, it forwards both
ways, and ``hold(connection, seconds)`` stops forwarding that connection's server-to-client
bytes for that long, then lets them all through at once. The other connections go on.

``watch_ticks`` reads ``/ticks`` streams (``servers.multiplex``) through it, over HTTP/2 (all
streams on one connection) or HTTP/1.1 (one connection per stream), and records when each
event arrived; ``gap_covering`` finds the gap that spans a stall.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from lab.meter import ByteMeter


class StallRelay(ByteMeter):
    """Lesson 01's byte meter that can also hold a connection back: ``async with
    StallRelay(host, port) as relay:``, then connect to ``relay.port``; connections are
    numbered in the order they arrive (``relay.counts.connections`` of them)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.holds: list[tuple[float, float]] = []
        """``(start, end)`` of each hold, in ``time.monotonic()`` seconds."""
        self._gates: list[asyncio.Event] = []

    async def hold(self, connection: int, seconds: float) -> tuple[float, float]:
        """Hold connection number ``connection``'s bytes to the client for ``seconds``; returns
        the hold's ``(start, end)`` as ``time.monotonic()``, ``end`` taken as they are let go."""
        gate = self._gates[connection]
        gate.clear()
        start = time.monotonic()
        await asyncio.sleep(seconds)
        end = time.monotonic()
        gate.set()
        self.holds.append((start, end))
        return start, end

    def _hold_for_next(self) -> dict:
        gate = asyncio.Event()
        gate.set()
        self._gates.append(gate)
        return {"hold": gate}


async def watch_ticks(
    url: str, arrivals: list[list[float]], stop: asyncio.Event, *, http2: bool,
    every: float = 0.05,
) -> None:
    """Read one ``/ticks`` stream per list in ``arrivals`` at ``url`` (``https://host:port``,
    the relay), appending the ``time.monotonic()`` of each event's arrival, until ``stop``.

    Over HTTP/1.1 each stream is opened once the one before it has its first event, so stream
    ``k`` is the relay's connection ``k``; over HTTP/2 they all share connection 0."""
    streams = len(arrivals)
    opened = [asyncio.Event() for _ in range(streams)]
    limits = httpx.Limits(max_connections=1 if http2 else streams)
    async with httpx.AsyncClient(
        http2=http2, verify=False, limits=limits, timeout=httpx.Timeout(None)
    ) as client:

        async def read(k: int) -> None:
            if not http2 and k:
                await opened[k - 1].wait()
            async with client.stream("GET", f"{url}/ticks?every={every}") as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        arrivals[k].append(time.monotonic())
                        opened[k].set()

        tasks = [asyncio.ensure_future(read(k)) for k in range(streams)]
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, stopping, return_exceptions=True)
        for task in tasks:  # an error other than our cancel is the experiment failing
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()


def gap_covering(arrivals: list[float], start: float, end: float) -> tuple[float, float] | None:
    """The two consecutive arrivals ``(a, b)`` with ``a <= start`` and ``b >= end`` (nothing
    arrived during ``[start, end]``), or None when something arrived in between."""
    for a, b in zip(arrivals, arrivals[1:], strict=False):
        if a <= start and b >= end:
            return a, b
    return None


async def stall_both(
    h2_port: int, h1_port: int, *, streams: int = 4, hold_for: float = 0.6,
    settle: float = 0.4, timeout: float = 10.0,
) -> dict:
    """Watch ``streams`` tick streams over HTTP/2 (to the server at ``h2_port``) and as many over
    HTTP/1.1 (``h1_port``), each side through a ``StallRelay``. Once every stream has had an
    event, and ``settle`` seconds more, hold the HTTP/2 connection and the first HTTP/1.1
    connection for ``hold_for`` seconds at once; watch ``settle`` seconds after.

    ``{"h2": arrivals per stream, "h1": ..., "hold": (start, end), "t0": monotonic start,
    "connections": {"h2": n, "h1": n}}``."""
    arrivals = {"h2": [[] for _ in range(streams)], "h1": [[] for _ in range(streams)]}
    stop = asyncio.Event()
    async with StallRelay("127.0.0.1", h2_port) as h2, StallRelay("127.0.0.1", h1_port) as h1:
        t0 = time.monotonic()
        watching = [
            asyncio.ensure_future(
                watch_ticks(f"https://127.0.0.1:{relay.port}", arrivals[key], stop,
                            http2=key == "h2")
            )
            for relay, key in ((h2, "h2"), (h1, "h1"))
        ]
        try:
            while not all(a for side in arrivals.values() for a in side):
                if time.monotonic() - t0 > timeout or any(w.done() for w in watching):
                    raise TimeoutError(f"not every tick stream opened within {timeout} s")
                await asyncio.sleep(0.02)
            await asyncio.sleep(settle)
            holds = await asyncio.gather(h2.hold(0, hold_for), h1.hold(0, hold_for))
            await asyncio.sleep(settle)
        finally:
            stop.set()
            await asyncio.gather(*watching)
    return {
        **arrivals,
        "hold": (max(h[0] for h in holds), min(h[1] for h in holds)),
        "t0": t0,
        "connections": {"h2": h2.counts.connections, "h1": h1.counts.connections},
    }
