"""Turning the shoot-out's measurements into choices and verdicts (lesson 08).

A number is read with its spread: ``band`` gives the range of a cost over a round and its
shorter repeats (or, at a count measured once, the relative spread of the nearest repeated
count). ``compare`` sets two transports' bands side by side at one client count and says
"confirms", "refutes" or "inconclusive" — inconclusive when the bands overlap, or when the
load generator was saturated (``saturation``) and so measured itself, not the server.
``judge_claims`` applies it to each of the seed's words at every client count and on every
cost; ``choose`` picks a transport for a use case by a rule stated in one sentence. All of it
reads only the measured ``Round``s, so a different machine may answer differently, and says why.
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

from lab.shootout import TRANSPORTS, Round

SIMPLICITY = [t.name for t in TRANSPORTS]
"""Simplest first: plain requests, held requests, one stream, an upgraded connection."""
INTERVALS = {t.name: t.interval for t in TRANSPORTS if t.interval}

HEADROOM = 2.0
"""A simpler transport is preferred while its server CPU is within this factor of the
cheapest candidate's, plus ``NOISE`` (so that run-to-run noise does not decide)."""
NOISE = 0.05
"""Share of a core by which the CPU of one short window differs between runs."""

CLIENT_CPU_LIMIT = 0.9
"""The load generator's process at this share of a core or more is the bottleneck."""
MACHINE_BUSY = 0.95
"""A machine with this share of all its cores busy (every process counted) made processes
queue for a CPU: the times measured include the wait."""
FELL_BEHIND = 0.7
"""A poller below this share of its model's requests/s (allowing one poll per client more
than the window held) was held back by its own process."""

METRICS: dict[str, tuple[Callable[[Round], float | None], str, float, int]] = {
    # name: (value of a round, unit, scale to the unit, decimals)
    "p50 latency": (lambda r: r.latency["p50"], "ms", 1000, 1),
    "p99 latency": (lambda r: r.latency["p99"], "ms", 1000, 1),
    "requests/s": (lambda r: r.requests_per_s, "/s", 1, 0),
    "bytes/post": (lambda r: r.bytes_per_post, "B", 1, 0),
    "server CPU": (lambda r: r.cpu, "% of a core", 100, 1),
    "heap/client": (lambda r: r.memory_per_client, "KiB", 1 / 1024, 1),
}


@dataclass(frozen=True)
class Band:
    """A cost as measured: the shown round's value and the range over its repeats."""

    value: float
    lo: float
    hi: float
    samples: int
    borrowed: bool = False
    """True when the range is the nearest repeated count's relative spread, applied here."""

    def show(self, metric: str) -> str:
        _, unit, scale, digits = METRICS[metric]
        text = f"{self.value * scale:.{digits}f}"
        if self.hi > self.lo:
            text += f" ({self.lo * scale:.{digits}f}–{self.hi * scale:.{digits}f}"
            text += ", spread borrowed)" if self.borrowed else f", {self.samples} runs)"
        return f"{text} {unit}"


def _values(rounds: list[Round], transport: str, clients: int, metric: str) -> list[Round]:
    read = METRICS[metric][0]
    return [r for r in rounds if r.transport == transport and r.clients == clients
            and read(r) is not None and not math.isnan(read(r))]  # fmt: skip


def band(rounds: list[Round], transport: str, clients: int, metric: str) -> Band:
    """``metric`` of ``transport`` at ``clients``: the shown round's value, min–max over it
    and its repeats; measured once, the nearest repeated count's relative spread around it."""
    read = METRICS[metric][0]
    found = _values(rounds, transport, clients, metric)
    if not found:
        raise KeyError(f"{transport} at {clients} clients: no {metric} measured")
    shown = next((r for r in found if r.repeat == 0), found[0])
    values = [read(r) for r in found]
    if len(values) > 1:
        return Band(read(shown), min(values), max(values), len(values))
    repeated = [n for n in {r.clients for r in rounds if r.transport == transport}
                if len(_values(rounds, transport, n, metric)) > 1]  # fmt: skip
    if not repeated:
        return Band(values[0], values[0], values[0], 1)
    nearest = min(repeated, key=lambda n: abs(math.log(n / clients)))
    there = band(rounds, transport, nearest, metric)
    relative = (there.hi - there.lo) / 2 / max(abs(there.value), 1e-12)
    value = values[0]
    return Band(value, value * (1 - relative), value * (1 + relative), 1, borrowed=True)


def saturation(rounds: list[Round], transport: str, clients: int) -> str | None:
    """Why the load generator or the machine, not the server, limited ``transport`` at
    ``clients`` (or None)."""
    for r in (r for r in rounds if r.transport == transport and r.clients == clients):
        if r.client_cpu >= CLIENT_CPU_LIMIT:
            return f"load generator saturated ({r.client_cpu:.0%} of a core, {transport})"
        if r.machine_cpu >= MACHINE_BUSY:
            return (f"machine busy ({r.machine_cpu:.0%} of its {os.cpu_count()} cores in use, "
                    f"other processes included, {transport})")  # fmt: skip
        interval = INTERVALS.get(transport)
        if interval:
            model = r.clients / interval
            if (r.requests_per_s + r.clients / r.window) / model < FELL_BEHIND:
                reached = f"{r.requests_per_s / model:.0%} of its model's {model:.0f}"
                return f"load generator fell behind ({transport} reached {reached} requests/s)"
    return None


@dataclass(frozen=True)
class Verdict:
    word: str
    """"confirms", "refutes" or "inconclusive"."""
    reason: str


def compare(rounds: list[Round], a: str, b: str, clients: int, metric: str, *,
            more: bool, factor: float = 1.0) -> Verdict:  # fmt: skip
    """Does ``a``'s ``metric`` exceed (``more``) or stay below ``factor`` times ``b``'s?

    Decided only when the two bands do not overlap and, for what was measured in the window
    (all but heap), neither round's load generator or machine was saturated; otherwise
    "inconclusive", with the reason."""
    first, second = band(rounds, a, clients, metric), band(rounds, b, clients, metric)
    scaled = f"{factor:g} × " if factor != 1 else ""
    numbers = f"{a} {first.show(metric)} vs {scaled}{b} {second.show(metric)}"
    timed = metric != "heap/client"  # heap is read while parked, before any window
    if timed and (busy := saturation(rounds, a, clients) or saturation(rounds, b, clients)):
        return Verdict("inconclusive", f"{numbers}: {busy}")
    if first.lo > factor * second.hi:
        return Verdict("confirms" if more else "refutes", numbers)
    if first.hi < factor * second.lo:
        return Verdict("refutes" if more else "confirms", numbers)
    return Verdict("inconclusive", f"{numbers}: within the spread")


@dataclass(frozen=True)
class Claim:
    """One of the seed's words, as comparisons: ``a``'s metric more (or less) than ``b``'s."""

    transport: str
    words: str
    comparisons: tuple[tuple[str, str, str, bool, float], ...]
    """(a, b, metric, more, factor) each judged at every client count."""


def claims(rate: float) -> list[Claim]:
    """The seed's words about each transport, as comparisons of measured costs."""
    fast, slow, long = "short polling, 0.25 s", "short polling, 1 s", "long polling"
    costs = ("requests/s", "bytes/post", "server CPU")
    heap = "an open connection per client (more heap than a parked long poll)"
    return [
        Claim("short polling", "high server load",
              tuple((fast, "SSE", m, True, 1.0) for m in costs)),
        Claim("short polling", "delayed updates (ten times SSE's p50 or more)",
              ((slow, "SSE", "p50 latency", True, 10.0), (fast, "SSE", "p50 latency", True, 10.0))),
        Claim("long polling", "lower latency than short polling (every 0.25 s)",
              ((long, fast, "p50 latency", False, 1.0), (long, fast, "p99 latency", False, 1.0))),
        Claim("long polling", f"(unsaid) cheaper than polling every 1 s, at {rate:g} posts/s",
              tuple((long, slow, m, False, 1.0) for m in costs)),
        Claim("SSE", "very low latency (a tenth of the 0.25 s poller's or less)",
              (("SSE", fast, "p50 latency", False, 0.1), ("SSE", fast, "p99 latency", False, 0.1))),
        Claim("WebSocket", "slightly more overhead (than SSE)",
              tuple(("WebSocket", "SSE", m, True, 1.0)
                    for m in ("bytes/post", "server CPU", "heap/client"))),
        Claim("SSE, WebSocket", heap,
              tuple((push, long, "heap/client", True, 1.0) for push in ("SSE", "WebSocket"))),
    ]  # fmt: skip


def summarize_verdicts(cells: list[tuple[str, Verdict]]) -> str:
    """One verdict for a claim from its ``(where, Verdict)`` cells, naming where it differs."""
    where = {word: [w for w, v in cells if v.word == word]
             for word in ("confirms", "refutes", "inconclusive")}  # fmt: skip
    decided = [word for word in ("confirms", "refutes") if where[word]]
    if not decided:
        return "inconclusive everywhere"
    head = (
        decided[0]
        if len(decided) == 1
        else "qualifies: confirms for "
        + ", ".join(where["confirms"])
        + "; refutes for "
        + ", ".join(where["refutes"])
    )
    if where["inconclusive"]:
        head += "; inconclusive for " + ", ".join(where["inconclusive"])
    return head


def judge_claims(rounds: list[Round]) -> list[tuple[str, str, list[tuple[str, Verdict]], str]]:
    """``(transport, the seed's words, [(where, Verdict)], summary)`` per claim: every
    comparison at every client count measured."""
    counts = sorted({r.clients for r in rounds})
    rate = rounds[0].rate
    judged = []
    for claim in claims(rate):
        cells = []
        one_side = len({c[0] for c in claim.comparisons}) == 1
        for a, b, metric, more, factor in claim.comparisons:
            for n in counts:
                where = f"{metric} at {n}" if one_side else f"{a}, {metric} at {n}"
                cells.append((where, compare(rounds, a, b, n, metric, more=more, factor=factor)))
        judged.append((claim.transport, claim.words, cells, summarize_verdicts(cells)))
    return judged


@dataclass(frozen=True)
class UseCase:
    name: str
    clients: int
    p99_budget: float
    """Seconds within which 99 % of deliveries must arrive."""
    two_way: bool
    """Clients send often too (a chat), not only receive."""
    changes_when: str
    """The conditions under which the answer changes."""


USE_CASES = (
    UseCase("news feed", 1000, 2.0, False,
            "a tighter budget or more readers: a push transport; many tabs over HTTP/1.1: "
            "HTTP/2 or one shared stream (lesson 05)"),
    UseCase("chat room", 100, 0.2, True,
            "people post rarely (a few times a minute): SSE down plus a POST up is enough"),
    UseCase("stock ticker", 1000, 0.2, False,
            "binary ticks: WebSocket (no base64, lesson 07); a proxy that cannot stream: "
            "long polling, if its latency fits"),
    UseCase("notification badge", 1000, 30.0, False,
            "the badge must change within a second: a push transport; polling every 30 s sends "
            "30x fewer requests than the 1 s measured here"),
)  # fmt: skip


def rounds_at(rounds: list[Round], clients: int) -> dict[str, Round]:
    """Each transport's shown round at the measured count nearest ``clients`` (by ratio)."""
    nearest = min({r.clients for r in rounds}, key=lambda n: abs(math.log(n / clients)))
    return {r.transport: r for r in rounds if r.clients == nearest and r.repeat == 0}


def choose(rounds: list[Round], case: UseCase) -> tuple[str, str]:
    """The simplest transport whose p99 met the budget in every run (the top of its band)
    at no more than twice the cheapest's CPU (plus ``NOISE``).

    Two-way use cases need WebSocket. Returns the transport's name and the numbers behind
    it, naming transports whose p99 band straddles the budget (a close call) and a saturated
    load generator."""
    measured = rounds_at(rounds, case.clients)
    at = next(iter(measured.values())).clients
    usable = [name for name in SIMPLICITY if name in measured
              and (name == "WebSocket" or not case.two_way)]  # fmt: skip
    p99 = {name: band(rounds, name, at, "p99 latency") for name in usable}
    fits = [measured[name] for name in usable if p99[name].hi <= case.p99_budget]
    close = [name for name in usable if p99[name].lo <= case.p99_budget < p99[name].hi]
    notes = "".join(f"; close call: {name}'s p99 {p99[name].show('p99 latency')} straddles "
                    f"the budget" for name in close)  # fmt: skip
    limited = [name for name in usable if saturation(rounds, name, at)]
    if limited:
        notes += f"; measured under a limit (load generator or machine): {', '.join(limited)}"
    if not fits:
        return "none measured", (f"no transport kept p99 under {case.p99_budget:g} s, "
                                 f"{at} clients{notes}")  # fmt: skip
    cheapest = min(r.cpu for r in fits)
    limit = HEADROOM * cheapest + NOISE
    pick = next(r for r in fits if r.cpu <= limit)
    why = (
        f"p99 {p99[pick.transport].show('p99 latency')} within {case.p99_budget:g} s; "
        f"{pick.cpu:.0%} of a core for {at} clients "
        f"(limit {limit:.0%}: cheapest fit {cheapest:.0%} x2 + {NOISE:.0%}){notes}"
    )
    return pick.transport, why


def ranking(rounds: list[Round], metric: str, clients: int) -> list[tuple[str, Band]]:
    """The transports measured at ``clients``, lowest ``metric`` first, each with its band:
    what a figure's title says about them is read from here, never written by hand."""
    names = [r.transport for r in rounds if r.clients == clients and r.repeat == 0]
    found = [
        (n, band(rounds, n, clients, metric)) for n in names if _values(rounds, n, clients, metric)
    ]
    return sorted(found, key=lambda item: item[1].value)


def span(rounds: list[Round], metric: str, clients: int) -> str:
    """``"lowest NAME VALUE … highest NAME VALUE UNIT"`` at ``clients`` (for a title: the
    figure's bars show the spread)."""
    ranked = ranking(rounds, metric, clients)
    _, unit, scale, digits = METRICS[metric]
    (low, first), (high, last) = ranked[0], ranked[-1]
    return f"{low} {first.value * scale:.{digits}f} … {high} {last.value * scale:.{digits}f} {unit}"


def thread_stack_bytes() -> int:
    """The stack a new thread would reserve here: the soft stack limit (``ulimit -s``), which
    glibc's ``pthread_create`` uses as its default; 8 MiB if unlimited. Virtual address space
    reserved, not memory in use: never compared with heap."""
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return soft if soft > 0 else 8 * 2**20
