"""The shoot-out: one feed, one workload, every transport, a sweep of client counts (lesson 08).

A round starts one group of clients in a child process (``lab.loadgen``), waits until every
held request, stream or socket is parked at the server, publishes posts at a steady rate, and
measures a steady window: the requests and bytes the clients sent and received in it, and the
CPU time the server's loop thread spent in it. It then waits until every post has reached
every client, and checks that each received every post exactly once, in order.

Client counts are first fitted to the open-file limit (``affordable_counts``): raised to the
hard limit, and where even that is too low, fewer clients, said in the output.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from lab.loadgen import SOCKETS_PER_CLIENT, Group, LoadGenerator
from lab.plots import TRANSPORT_COLORS
from lab.stats import check_delivered_once_in_order, summarize
from lab.workload import publish_steadily
from servers import runtime
from servers.feed import Feed
from servers.limits import affordable, open_file_limit, raise_open_file_limit
from servers.timing import scaled, wait_until


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
        marker = {"short": "o", "long": "s", "sse": "^", "ws": "v"}[self.kind]
        return {"color": TRANSPORT_COLORS[family], "ls": "--" if dashed else "-", "marker": marker}

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
    """Bytes on the wire in the window, both ways, headers and framing included, per post
    published in it and per client: what each delivery cost."""
    cpu: float
    """Share of one core the server's loop thread used."""
    client_cpu: float
    """Share of one core the clients' process used: near 1, the clients were the limit."""
    memory_per_client: float | None = None
    """Bytes of Python heap (``tracemalloc``) the server held per parked client (``None``:
    not measured)."""
    repeat: int = 0
    """0 for the round the tables and figures show; 1, 2, ... for its shorter repeats, which
    only widen the spread (``lab.verdicts.band``)."""
    machine_cpu: float = float("nan")
    """Share of all the machine's cores busy in the window, every process included: near 1,
    processes queued for a CPU and every time measured includes that wait."""


def by_transport(rounds: list[Round]) -> dict[str, list[Round]]:
    """The shown rounds (not the repeats) of each transport, fewest clients first."""
    grouped: dict[str, list[Round]] = {}
    for result in sorted((r for r in rounds if r.repeat == 0), key=lambda r: r.clients):
        grouped.setdefault(result.transport, []).append(result)
    return grouped


def loop_cpu_seconds() -> float:
    """CPU seconds the servers' loop thread has used so far (``time.thread_time`` on it)."""

    async def thread_time() -> float:
        return time.thread_time()

    return runtime.run(thread_time())


MIN_POSTS = 3
"""A round publishes at least this many posts, however low the rate: the window stretches."""


def run_round(
    feed: Feed,
    url: str,
    transport: Transport,
    clients: int,
    *,
    rate: float,
    window: float,
    memory: bool = False,
    repeat: int = 0,
) -> Round:
    """Measure ``transport`` with ``clients`` clients while ``rate`` posts a second go out.

    Before the window, one warm-up post must reach every client, so every connection is open
    and every poller in its rhythm; after it, the round waits until every post reached every
    client. With ``memory=True`` (for a transport that holds a connection), ``tracemalloc``
    watches this process while the clients connect, and stops before the window: the Python
    memory held per parked client, without the kernel's socket buffers.
    """
    window = max(window, MIN_POSTS / rate)
    name, held = transport.name, None
    wait_until(lambda: feed.waiting == 0, 30, "the previous round's clients to leave")
    try:
        if memory:
            gc.collect()
            tracemalloc.start()
            baseline = tracemalloc.get_traced_memory()[0]
        with LoadGenerator(url, [transport.group(clients)], since=feed.last_id) as load:
            if transport.holds_a_connection:
                wait_until(lambda: feed.waiting >= clients, 30, f"{clients} parked clients")
            if memory:
                runtime.run(asyncio.sleep(0.1))  # let the handlers settle into their waits
                held = (tracemalloc.get_traced_memory()[0] - baseline) / clients
                tracemalloc.stop()
            warm_up = [feed.publish("warm-up")["id"]]
            _wait_for_deliveries(load, name, clients)
            before, started, wall_start = load.mark(), time.monotonic(), time.time()
            cpu_before, client_cpu_before = loop_cpu_seconds(), load.cpu_seconds()
            machine_before = psutil.cpu_times()
            ids = publish_steadily(feed, rate, window)
            after, cpu_after, machine = load.mark(), loop_cpu_seconds(), _busy(machine_before)
            client_cpu_after, elapsed = load.cpu_seconds(), time.monotonic() - started
            _wait_for_deliveries(load, name, clients * (1 + len(ids)))
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    result = load.results[name]
    check_delivered_once_in_order(result.received_ids(), warm_up + ids)
    first, last = before[name], after[name]
    wire = last["bytes_up"] + last["bytes_down"] - first["bytes_up"] - first["bytes_down"]
    measured = set(ids)
    return Round(
        transport=name,
        clients=clients,
        rate=rate,
        window=elapsed,
        latency=summarize(
            [r - p for c in result.clients for i, p, r in c["arrivals"] if i in measured]
        ),
        requests_per_s=(last["requests"] - first["requests"]) / elapsed,
        empty_share=(
            result.empty_share(wall_start, wall_start + elapsed)
            if transport.kind in ("short", "long")
            else float("nan")
        ),
        bytes_per_post=wire / (len(ids) * clients),
        cpu=(cpu_after - cpu_before) / elapsed,
        client_cpu=(client_cpu_after - client_cpu_before) / elapsed,
        memory_per_client=held,
        repeat=repeat,
        machine_cpu=machine,
    )


def _busy(before) -> float:
    """Share of all cores busy since ``before`` (``psutil.cpu_times()``): 1 - idle share."""
    after = psutil.cpu_times()
    idle = sum(getattr(after, f, 0) - getattr(before, f, 0) for f in ("idle", "iowait"))
    total = sum(after) - sum(before)
    # clamped: on an idle machine the float sums can give 1 - idle / total = -2e-12
    return min(1.0, max(0.0, 1 - idle / total)) if total > 0 else float("nan")


def _wait_for_deliveries(load: LoadGenerator, name: str, count: int) -> None:
    """Until the group's clients have received ``count`` posts in all (asking every 50 ms)."""
    deadline = time.monotonic() + scaled(60)
    while (delivered := load.mark()[name]["deliveries"]) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: {delivered} of {count} deliveries after {scaled(60)} s")
        time.sleep(0.05)


def affordable_counts(counts: list[int], say: Callable[[str], None] = print) -> list[int]:
    """``counts`` as this machine's open-file limit allows them, once raised to the hard limit:
    a count too large becomes the most clients that fit, and ``say`` is told so."""
    raise_open_file_limit()
    fitted = sorted({affordable(n, SOCKETS_PER_CLIENT) for n in counts})
    if fitted != sorted(set(counts)):
        soft, hard = open_file_limit()
        say(
            f"open-file limit {soft} (hard limit {hard}): at most {max(fitted)} clients fit "
            f"({SOCKETS_PER_CLIENT} files each in the load generator), so this run uses "
            f"{fitted} clients instead of {sorted(counts)}; raise the hard limit "
            "(ulimit -Hn, as root) to run them all"
        )
    return fitted


def sweep(
    feed: Feed,
    url: str,
    transports: tuple[Transport, ...],
    counts: list[int],
    *,
    rate: float,
    window: float,
    repeats: int = 0,
    repeat_window: float | None = None,
    progress: Callable[[int, int, str], None] = lambda done, total, what: None,
) -> list[Round]:
    """Every transport at every client count; ``progress`` is told before each round.

    Each count below the largest is measured ``repeats`` more times, over ``repeat_window``
    seconds (default: ``window``), for the spread of the numbers between runs; the largest,
    whose rounds cost the most, is measured once. Memory per client is measured in every
    round of a transport that holds a connection. Counts the open-file limit cannot afford
    are scaled down, and said so (``affordable_counts``).
    """
    counts = affordable_counts(counts)
    plan = [(t, n, 0) for n in counts for t in transports]
    plan += [(t, n, k) for k in range(1, repeats + 1) for n in counts[:-1] for t in transports]
    rounds = []
    for done, (transport, clients, repeat) in enumerate(plan):
        again = f", repeat {repeat}" if repeat else ""
        progress(done, len(plan), f"{transport.name}, {clients} clients{again}")
        length = (repeat_window or window) if repeat else window
        rounds.append(
            run_round(feed, url, transport, clients, rate=rate, window=length,
                      memory=transport.holds_a_connection, repeat=repeat)
        )  # fmt: skip
    progress(len(plan), len(plan), "done")
    return rounds
