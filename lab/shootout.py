"""The shoot-out: one feed, one workload, every transport, a sweep of client counts (lesson 08).

A round starts one group of clients in a child process (``lab.loadgen``), waits until every
held request, stream or socket is parked at the server, publishes posts at a steady rate, and
measures a steady window: the requests and bytes the clients sent and received in it, and the
CPU time the server's loop thread spent in it. After a drain long enough for the slowest
poller, it checks that every client received every post exactly once, in order.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from lab.loadgen import Group, LoadGenerator
from lab.plots import TRANSPORT_COLORS
from lab.stats import check_delivered_once_in_order, summarize
from lab.timing import scaled, wait_until
from lab.workload import publish_steadily
from servers import runtime
from servers.feed import Feed


@dataclass(frozen=True)
class Transport:
    """A way to get posts: a load-generator client kind, and a polling interval if it polls."""

    name: str
    kind: str
    interval: float | None = None

    def group(self, clients: int) -> Group:
        return Group(self.name, self.kind, clients, interval=self.interval or 1.0, timeout=25)

    @property
    def style(self) -> dict:
        """Matplotlib style: the transport's colour; the faster poller dashed."""
        family = "short polling" if self.kind == "short" else self.name
        dashed = self.kind == "short" and (self.interval or 1.0) < 1.0
        return {"color": TRANSPORT_COLORS[family], "ls": "--" if dashed else "-", "marker": "o"}

    @property
    def holds_a_connection(self) -> bool:
        """Whether each client keeps a request, stream or socket parked at the server."""
        return self.kind != "short"


TRANSPORTS = (
    Transport("short polling, 1 s", "short", 1.0),
    Transport("short polling, 0.25 s", "short", 0.25),
    Transport("long polling", "long"),
    Transport("SSE", "sse"),
    Transport("WebSocket", "ws"),
)


@dataclass
class Round:
    """What one transport cost with ``clients`` clients."""

    transport: str
    clients: int
    rate: float
    """Posts published per second."""
    window: float
    """Seconds of the steady window the rates below are measured over."""
    latency: dict[str, float]
    """Publish-to-arrival seconds over every post at every client: p50, p99, ..."""
    requests_per_s: float
    """HTTP requests (polls; or connections opened, for SSE and WebSocket) per second."""
    empty_share: float
    """Share of those requests that brought nothing new (nan for SSE and WebSocket)."""
    bytes_per_post: float
    """Bytes on the wire, both ways, headers and framing included, per post delivered."""
    cpu: float
    """Share of one core the server's loop thread used."""
    client_cpu: float
    """Share of one core the clients' process used: near 1, the clients were the limit."""
    memory_per_client: float | None = None
    """Bytes of Python memory the server held per parked client (``None``: not measured)."""


def by_transport(rounds: list[Round]) -> dict[str, list[Round]]:
    """The rounds of each transport, fewest clients first."""
    grouped: dict[str, list[Round]] = {}
    for result in sorted(rounds, key=lambda r: r.clients):
        grouped.setdefault(result.transport, []).append(result)
    return grouped


def loop_cpu_seconds() -> float:
    """CPU seconds the servers' loop thread has used so far (``time.thread_time`` on it)."""

    async def thread_time() -> float:
        return time.thread_time()

    return runtime.run(thread_time())


def run_round(
    feed: Feed,
    url: str,
    transport: Transport,
    clients: int,
    *,
    rate: float,
    window: float,
    memory: bool = False,
) -> Round:
    """Measure ``transport`` with ``clients`` clients while ``rate`` posts a second go out.

    With ``memory=True`` (for a transport that holds a connection), ``tracemalloc`` watches
    the server's process while the clients connect, and stops before the measured window:
    the Python memory held per parked client, without the kernel's socket buffers.
    """
    held = None
    if memory:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
    with LoadGenerator(url, [transport.group(clients)], since=feed.last_id) as load:
        if transport.holds_a_connection:
            wait_until(lambda: feed.waiting >= clients, 30, f"{clients} parked clients")
        if memory:
            runtime.run(asyncio.sleep(0.1))  # let the handlers settle into their waits
            held = (tracemalloc.get_traced_memory()[0] - baseline) / clients
            tracemalloc.stop()
        before, started, wall_start = load.mark(), time.monotonic(), time.time()
        cpu_before, client_cpu_before = loop_cpu_seconds(), load.cpu_seconds()
        ids = publish_steadily(feed, rate, window)
        after, cpu_after, client_cpu_after = load.mark(), loop_cpu_seconds(), load.cpu_seconds()
        elapsed = time.monotonic() - started
        time.sleep((transport.interval or 0) + scaled(0.3))  # the last post reaches everyone
    result = load.results[transport.name]
    check_delivered_once_in_order(result.received_ids(), ids)
    first, last = before[transport.name], after[transport.name]
    wire = last["bytes_up"] + last["bytes_down"] - first["bytes_up"] - first["bytes_down"]
    return Round(
        transport=transport.name,
        clients=clients,
        rate=rate,
        window=elapsed,
        latency=summarize(result.latencies()),
        requests_per_s=(last["requests"] - first["requests"]) / elapsed,
        empty_share=(
            result.empty_share(wall_start, wall_start + elapsed)
            if transport.kind in ("short", "long")
            else float("nan")
        ),
        bytes_per_post=wire / max(1, last["deliveries"] - first["deliveries"]),
        cpu=(cpu_after - cpu_before) / elapsed,
        client_cpu=(client_cpu_after - client_cpu_before) / elapsed,
        memory_per_client=held,
    )


def sweep(
    feed: Feed,
    url: str,
    transports: tuple[Transport, ...],
    counts: list[int],
    *,
    rate: float,
    window: float,
    progress: Callable[[int, int, str], None] = lambda done, total, what: None,
) -> list[Round]:
    """Every transport at every client count; ``progress`` is told before each round.

    Memory per client is measured in the rounds with the most clients, for the transports
    that hold a connection.
    """
    plan = [(t, n) for n in counts for t in transports]
    rounds = []
    for done, (transport, clients) in enumerate(plan):
        progress(done, len(plan), f"{transport.name}, {clients} clients")
        memory = transport.holds_a_connection and clients == max(counts)
        rounds.append(
            run_round(feed, url, transport, clients, rate=rate, window=window, memory=memory)
        )
    progress(len(plan), len(plan), "done")
    return rounds
