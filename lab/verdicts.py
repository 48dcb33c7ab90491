"""Turning the shoot-out's measurements into choices and verdicts (lesson 08).

``choose`` picks a transport for a use case by a rule stated in one sentence; ``judge_claims``
sets each of the seed's words beside the number from this run that confirms, qualifies or
refutes it. Both read only the measured ``Round``s, so a different machine may answer
differently, and says why.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass

from lab.shootout import TRANSPORTS, Round

SIMPLICITY = [t.name for t in TRANSPORTS]
"""Simplest first: plain requests, held requests, one stream, an upgraded connection."""

HEADROOM = 2.0
"""A simpler transport is preferred while its server CPU is within this factor of the
cheapest candidate's, plus ``NOISE`` (so that run-to-run noise does not decide)."""

NOISE = 0.05
"""Share of a core by which the CPU of one short window differs between runs."""


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
    """Each transport's round at the measured client count nearest ``clients`` (by ratio)."""
    nearest = min({r.clients for r in rounds}, key=lambda n: abs(math.log(n / clients)))
    return {r.transport: r for r in rounds if r.clients == nearest}


def choose(rounds: list[Round], case: UseCase) -> tuple[str, str]:
    """The simplest transport that meets the budget at no more than twice the cheapest's CPU
    (plus ``NOISE``).

    Two-way use cases need WebSocket. Returns the transport's name and the numbers behind it.
    """
    measured = rounds_at(rounds, case.clients)
    at = next(iter(measured.values())).clients
    fits = [
        r
        for name in SIMPLICITY
        if (r := measured.get(name)) is not None
        and r.latency["p99"] <= case.p99_budget
        and (r.transport == "WebSocket" or not case.two_way)
    ]
    if not fits:
        return "none measured", f"no transport kept p99 under {case.p99_budget:g} s, {at} clients"
    cheapest = min(r.cpu for r in fits)
    limit = HEADROOM * cheapest + NOISE
    pick = next(r for r in fits if r.cpu <= limit)
    why = (
        f"p99 {pick.latency['p99'] * 1000:.0f} ms within {case.p99_budget:g} s; {pick.cpu:.0%} "
        f"of a core for {at} clients "
        f"(limit {limit:.0%}: cheapest fit {cheapest:.0%} x2 + {NOISE:.0%})"
    )
    return pick.transport, why


def thread_stack_bytes() -> int:
    """The stack a new thread reserves here (the soft stack limit; 8 MiB if unlimited)."""
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return soft if soft > 0 else 8 * 2**20


def judge_claims(rounds: list[Round]) -> list[tuple[str, str, str, str]]:
    """``(transport, the seed's words, the number from this run, verdict)`` rows."""
    counts = sorted({r.clients for r in rounds})
    most = counts[-1]
    big, mid = rounds_at(rounds, most), rounds_at(rounds, counts[min(1, len(counts) - 1)])
    fast, slow = big["short polling, 0.25 s"], big["short polling, 1 s"]
    sse, ws = big["SSE"], big["WebSocket"]
    most_memory = max(sse.memory_per_client or 0, ws.memory_per_client or 0)
    stack = thread_stack_bytes()
    mid_long, mid_fast, mid_sse = mid["long polling"], mid["short polling, 0.25 s"], mid["SSE"]
    mid_slow, push = mid["short polling, 1 s"], min(sse, ws, key=lambda r: r.cpu)
    at_mid = f"{mid_sse.clients} clients"
    rows = [
        ("short polling", "high server load",
         f"{fast.requests_per_s:.0f} requests/s for {most} clients, "
         f"{fast.empty_share:.0%} of them empty; {fast.cpu:.0%} of a core vs {push.transport}'s "
         f"{push.cpu:.0%}",
         "confirms" if fast.cpu > push.cpu + NOISE else "qualifies: not clearly more here"),
        ("short polling", "delayed updates",
         f"p50 {slow.latency['p50'] * 1000:.0f} ms at a 1 s interval",
         "confirms: half the interval, as lesson 01's model says"
         if 0.3 <= slow.latency["p50"] <= 0.7 else "qualifies: not half the interval here"),
        ("long polling", "lower latency than short polling",
         f"p50 {mid_long.latency['p50'] * 1000:.0f} ms vs {mid_fast.latency['p50'] * 1000:.0f} "
         f"ms polling every 0.25 s, {at_mid}",
         "confirms" if mid_long.latency["p50"] < mid_fast.latency["p50"] else "refutes"),
        ("long polling", "(unsaid) one request per post per client",
         f"{mid_long.requests_per_s:.0f} requests/s for {at_mid} at {mid_long.rate:g} posts/s, "
         f"vs {mid_slow.requests_per_s:.0f} for the 1 s poller",
         "qualifies: cheaper than polling only while posts are rarer than polls"
         if mid_long.requests_per_s > mid_slow.requests_per_s
         else "confirms: fewer requests than polling"),
        ("SSE", "very low latency",
         f"p50 {mid_sse.latency['p50'] * 1000:.1f} ms, {at_mid}",
         "confirms" if mid_sse.latency["p50"] < mid_fast.latency["p50"] / 10 else "qualifies"),
        ("WebSocket", "slightly more overhead",
         f"{ws.bytes_per_post:.0f} bytes per post vs SSE's {sse.bytes_per_post:.0f}",
         "refutes, per message" if ws.bytes_per_post < sse.bytes_per_post else "confirms"),
        ("SSE, WebSocket", "an open connection per client",
         f"{sse.memory_per_client / 1024:.0f} KiB (SSE), "
         f"{ws.memory_per_client / 1024:.0f} KiB (WebSocket) of Python memory each; a thread "
         f"per connection would reserve {stack / 2**20:.0f} MiB of address space for its stack",
         "qualifies: cheap on an asyncio server" if most_memory < stack / 10
         else "confirms: each connection is costly here"),
    ]  # fmt: skip
    return rows
