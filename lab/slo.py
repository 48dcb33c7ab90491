"""An SLO stated and measured: delivery p99 at a thousand SSE clients (lesson 14).

A service-level objective names a number its users feel, a bound on it, and the conditions
it holds under: here *the p99 of delivery latency (a post's publish to its arrival at a
client) stays within ``TARGET`` with ``CLIENTS`` clients reading ``broadcast`` over SSE while
``RATE`` posts a second go out*. ``measure(url)`` runs it against the service at ``url``
(one process, or lesson 09's front with backends behind it):

1. logs in (``POST /login``), posts a start post and keeps its id;
2. starts the clients in a child process (``lab.loadgen``, unmetered: no relay hop in the
   clients' process), so their load never shares the servers' loop; each reads
   ``/channels/broadcast/events`` from ``Last-Event-ID`` = the start id, so a client that
   connects late still gets every post once (replayed from the channel's history);
3. warm-up: posts at the rate for ``warmup`` seconds, then waits until every client holds
   every warm-up post, so every stream is open and live;
4. the steady window (lesson 08's ``load.mark()``): posts at the rate for ``window``
   seconds, the CPU of the clients and of the named server processes, the machine's busy
   share and its load average read at both ends;
5. waits until every window post has reached every client, or until deliveries stop coming.

Latency is the arrival's ``time.time()`` minus the post's ``ts`` (the taking backend's
``time.time()``: one machine, one clock). ``verdict(run)`` reads only the numbers (see it);
``lab.slo_figures`` prints, plots and sizes a run.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import psutil

from lab.loadgen import Group, LoadGenerator
from lab.stats import summarize
from servers.limits import affordable, raise_open_file_limit
from servers.notify.channels import BROADCAST
from servers.timing import scaled, wait_until

TARGET = 0.250
"""The objective: p99 delivery latency at most this many seconds."""
CLIENTS = 1000
RATE = 10.0
"""Posts a second during the window: with 1000 clients, 10 000 deliveries a second."""
BOUND = 5.0
"""What the lesson's cell asserts p99 stays under (seconds, times ``COURSE_TIMEOUT_FACTOR``),
never the target itself: a service that delivers only on its 15 s heartbeat or behind a
buffering proxy fails it (or loses the posts outright), a busy machine does not (with the
load average at 9 on 2 cores, this machine measured p99 1.7 s)."""

MIN_SAMPLES = 100
"""Fewer deliveries than this and a p99 is just the largest of them."""
RATE_SHORTFALL = 0.9
"""A window that posted below this share of the stated rate did not test the objective."""
CPU_SATURATED = 0.9
"""A process at this share of a core or more (the clients', a backend's) was the limit."""
MACHINE_BUSY = 0.95
"""All the machine's cores at least this busy: processes queued for a CPU."""
BUCKET = 0.5
"""Seconds per point of p99 over the window (posts grouped by their publish time)."""
CLIENTS_PROCESS = "(the clients' process)"


@dataclass(frozen=True)
class Objective:
    target: float = TARGET
    clients: int = CLIENTS
    rate: float = RATE

    def __str__(self) -> str:
        return (
            f"p99 delivery ≤ {self.target * 1000:.0f} ms with {self.clients} SSE clients on "
            f"{BROADCAST!r} at {self.rate:g} posts/s ({self.clients * self.rate:,.0f} "
            "deliveries/s)"
        )


@dataclass(frozen=True)
class Machine:
    """What the run ran on, and how busy it was."""

    cores: int
    cpu: str
    load_before: float
    """The 1-minute load average when the run started, and below when it ended."""
    load_after: float
    busy: float
    """Share of all cores busy during the window, every process counted."""

    @property
    def load(self) -> float:
        return max(self.load_before, self.load_after)

    def __str__(self) -> str:
        return (
            f"{self.cores} cores ({self.cpu}); load average (1 min) {self.load_before:.2f} "
            f"before, {self.load_after:.2f} after; {self.busy:.0%} of all cores busy in the "
            "window"
        )


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open(path) as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass
class SloRun:
    """One measurement: the objective, what ran, and what the clients saw in the window."""

    objective: Objective
    setup: str
    clients: int
    """Clients that ran (fewer than the objective's when the open-file limit forbids)."""
    posts: int
    """Posts published in the window."""
    window: float
    latencies: list[float]
    """Seconds from publish to arrival, for every window post at every client."""
    buckets: list[tuple[float, float]]
    """``(seconds into the window, p99 of the posts published in that BUCKET)``."""
    lost: int
    duplicates: int
    reconnects: int
    client_cpu: float
    """Share of a core the clients' process used in the window."""
    machine: Machine
    server_cpu: dict[str, float] = field(default_factory=dict)
    """Share of a core each named server used in the window (its processes summed)."""
    backends: tuple[str, ...] = ()
    """Which of ``server_cpu`` are the service's backends (the rest: a front, Redis)."""

    @property
    def rate(self) -> float:
        return self.posts / self.window if self.window > 0 else 0.0

    @property
    def stats(self) -> dict[str, float]:
        return summarize(self.latencies)


@dataclass(frozen=True)
class Verdict:
    word: str
    """"met", "missed" or "inconclusive"."""
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.word}: {'; '.join(self.reasons)}"


def untested(run: SloRun) -> list[str]:
    """Why the run did not test the objective as stated (empty: it did)."""
    why, asked = [], run.objective
    if run.clients < asked.clients:
        why.append(f"only {run.clients} of {asked.clients} clients ran")
    if run.rate < RATE_SHORTFALL * asked.rate:
        why.append(f"posts went out at {run.rate:.1f}/s, not {asked.rate:g}/s")
    if len(run.latencies) < MIN_SAMPLES:
        why.append(f"{len(run.latencies)} deliveries are too few for a p99")
    return why


def saturation(run: SloRun) -> list[str]:
    """What was at its limit during the window (empty: nothing)."""
    why = []
    if run.client_cpu >= CPU_SATURATED:
        why.append(f"the clients' process used {run.client_cpu:.0%} of a core")
    why += [
        f"{name} used {share:.0%} of a core"
        for name, share in run.server_cpu.items()
        if share >= CPU_SATURATED
    ]
    if run.machine.busy >= MACHINE_BUSY:
        why.append(f"{run.machine.busy:.0%} of all cores were busy")
    if run.machine.load > run.machine.cores:
        why.append(f"load average {run.machine.load:.2f} on {run.machine.cores} cores")
    return why


def verdict(run: SloRun) -> Verdict:
    """From the numbers alone. "missed" when a post was lost or repeated (every client gets
    every post once, or no latency means anything); "inconclusive" when the run did not test
    the stated conditions; "met" when p99 is within the target (a saturated machine only
    adds to latency, so a busy run that met it still met it); "inconclusive" when it missed
    on a saturated machine (the wait for a CPU, not the service, may be what was measured);
    "missed" otherwise."""
    p99, target = run.stats["p99"], run.objective.target
    if run.lost or run.duplicates:
        return Verdict("missed", (f"{run.lost} posts lost, {run.duplicates} duplicated",))
    if untested(run):
        return Verdict("inconclusive", tuple(untested(run)))
    within = f"p99 {p99 * 1000:.0f} ms {'≤' if p99 <= target else '>'} {target * 1000:.0f} ms"
    busy = saturation(run)
    if p99 <= target:
        return Verdict("met", (within, *(f"even though {why}" for why in busy)))
    if busy:
        return Verdict("inconclusive", (within, *busy))
    return Verdict("missed", (within, "and nothing was saturated"))


def account(arrivals: list[list], ids: list[int]) -> tuple[int, int]:
    """``(lost, duplicates)`` over every client: each of ``ids`` must arrive once at each."""
    wanted, lost, duplicates = set(ids), 0, 0
    for client in arrivals:
        seen = Counter(post_id for post_id, _, _ in client if post_id in wanted)
        lost += len(wanted - seen.keys())
        duplicates += sum(count - 1 for count in seen.values())
    return lost, duplicates


def p99_buckets(arrivals: list[list], ids: list[int], start: float) -> list[tuple[float, float]]:
    """p99 latency of the posts published in each ``BUCKET`` after ``start`` (wall clock)."""
    wanted, grouped = set(ids), {}
    for client in arrivals:
        for post_id, published, received in client:
            if post_id in wanted:
                key = max(0, math.floor((published - start) / BUCKET))
                grouped.setdefault(key, []).append(received - published)
    return [(key * BUCKET, float(np.percentile(grouped[key], 99))) for key in sorted(grouped)]


def measure(
    url: str,
    objective: Objective = Objective(),
    *,
    warmup: float = 2.0,
    window: float = 5.0,
    backends: dict[str, int] | None = None,
    others: dict[str, int] | None = None,
    setup: str = "one service process",
) -> SloRun:
    """Run the objective against the service at ``url`` (see the module's docstring).
    ``backends``, ``others`` (a front, Redis): name → port of the server processes whose CPU
    to read (``listeners``); ``setup``: what they are, in words, for the report."""
    import httpx

    raise_open_file_limit()
    # two files a client in the front (its client's socket and its upstream's), which inherits
    # this limit from here (lab.notify_cluster); one in the clients' process
    clients = affordable(objective.clients, 2)
    serving = listeners(backends or {})
    backend_names = tuple(serving)
    serving.update(listeners(others or {}))
    processes = {name: [psutil.Process(pid) for pid in pids] for name, pids in serving.items()}
    load_before = os.getloadavg()[0]
    with httpx.Client(base_url=url, timeout=scaled(10)) as http:
        login = http.post("/login", json={"user": "slo"}).raise_for_status().json()
        http.headers["Authorization"] = f"Bearer {login['token']}"
        start = _publish(http, 1, 0, "slo start")[0]
        group = Group("slo", "sse", clients, metered=False)
        with LoadGenerator(f"{url}/channels/{BROADCAST}", [group], since=start) as load:
            warm = _publish(http, objective.rate, warmup, "warm-up")
            wait_until(
                lambda: load.mark()["slo"]["deliveries"] >= clients * len(warm),
                30,
                f"all {clients} clients to hold all {len(warm)} warm-up posts",
            )
            before, wall_start = _cpu(load, processes), time.time()
            psutil.cpu_percent(None)
            ids = _publish(http, objective.rate, window, "slo")
            busy = psutil.cpu_percent(None) / 100
            after, elapsed = _cpu(load, processes), time.time() - wall_start
            _settle(load, clients * (len(warm) + len(ids)), quiet=BOUND)  # late is not lost
    arrivals = [c["arrivals"] for c in load.results["slo"].clients]
    wanted = set(ids)
    lost, duplicates = account(arrivals, ids)
    shares = {name: (after[name] - before[name]) / elapsed for name in after}
    client_cpu = shares.pop(CLIENTS_PROCESS)
    return SloRun(
        objective=objective,
        setup=setup,
        clients=clients,
        posts=len(ids),
        window=elapsed,
        latencies=[r - p for client in arrivals for i, p, r in client if i in wanted],
        buckets=p99_buckets(arrivals, ids, wall_start),
        lost=lost,
        duplicates=duplicates,
        reconnects=load.results["slo"].requests - clients,
        client_cpu=client_cpu,
        machine=Machine(
            psutil.cpu_count() or 1, cpu_model(), load_before, os.getloadavg()[0], busy
        ),
        server_cpu=shares,
        backends=backend_names,
    )


def measure_cluster(cluster, objective: Objective = Objective(), **options) -> SloRun:
    """``measure`` through a ``lab.notify_cluster.NotifyCluster``'s front, reading the CPU of
    its backends, its front and its Redis."""
    others = {"front": urlsplit(cluster.url).port}
    if cluster.redis is not None:
        others["redis"] = urlsplit(cluster.redis.url).port
    backends = {backend.name: backend.port for backend in cluster.backends}
    return measure(
        cluster.url, objective, backends=backends, others=others, setup=cluster.kind, **options
    )


def _publish(http, rate: float, duration: float, text: str) -> list[int]:
    """Post to ``broadcast`` at ``rate`` a second for ``duration`` seconds (at least one
    post), each at its scheduled time, or at once when behind; return the ids."""
    ids, start = [], time.monotonic()
    for n in range(max(1, round(rate * duration))):
        time.sleep(max(0.0, start + (n + 0.5) / rate - time.monotonic()))
        answer = http.post(f"/channels/{BROADCAST}/posts", json={"text": f"{text} {n + 1}"})
        ids.append(answer.raise_for_status().json()["id"])
    time.sleep(max(0.0, start + duration - time.monotonic()))
    return ids


def listeners(ports: dict[str, int]) -> dict[str, list[int]]:
    """Name → pids of the process listening on its port and the rest of its process group
    (nginx's workers share the master's socket, but ``psutil`` names one of them); servers
    in one process (this kernel, on the fallback) are named together, without the kernel's
    group (the instruments it started)."""
    by_port: dict[int, set[int]] = {}
    for port, pid in _listening():
        by_port.setdefault(port, set()).add(pid)
    named: dict[frozenset[int], list[str]] = {}
    for name, port in ports.items():
        pids = set(by_port.get(port, ()))
        groups = {_group_of(pid) for pid in pids - {os.getpid()}}
        pids.update(p.pid for p in psutil.process_iter() if _group_of(p.pid) in groups - {None})
        named.setdefault(frozenset(pids), []).append(name)
    return {
        " + ".join(names) + (" (this kernel)" if os.getpid() in pids else ""): sorted(pids)
        for pids, names in named.items()
        if pids
    }


def _listening() -> list[tuple[int, int]]:
    """``(port, pid)`` of every listening TCP socket; where the system hides other processes'
    sockets (macOS without root), those of this process and the processes it started."""
    try:
        return [(c.laddr.port, c.pid) for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.pid]  # fmt: skip
    except psutil.AccessDenied:
        found = []
        for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
            try:
                sockets = process.net_connections(kind="tcp")
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue
            found += [
                (c.laddr.port, process.pid) for c in sockets if c.status == psutil.CONN_LISTEN
            ]
        return found


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:  # gone meanwhile
        return None


def _cpu(load: LoadGenerator, processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """CPU seconds so far: the clients' process and each named server's processes."""
    seconds = {CLIENTS_PROCESS: load.cpu_seconds()}
    for name, group in processes.items():
        seconds[name] = sum(sum(p.cpu_times()[:2]) for p in group)
    return seconds


def _settle(load: LoadGenerator, expected: int, quiet: float, limit: float = 30) -> None:
    """Until the clients hold ``expected`` posts in all, or none came for ``scaled(quiet)``
    seconds (a lost post never comes: ``account`` counts it), or ``scaled(limit)`` passed. The
    run waits ``BOUND``: a post later than the cell allows p99 to be may be lost, never one
    that is only late (a backend starved for a second on a busy machine)."""
    deadline, last, last_change = time.monotonic() + scaled(limit), -1, time.monotonic()
    while (delivered := load.mark()["slo"]["deliveries"]) < expected:
        now = time.monotonic()
        if delivered != last:
            last, last_change = delivered, now
        if now - last_change > scaled(quiet) or now > deadline:
            return
        time.sleep(0.05)
