"""SSE delivery through several balancer configs, measured fairly, and the sentence about it
(lesson 09).

``delivery_rounds(urls, publish_urls)`` runs ``lab.balancing.sse_round`` through each config:
first one uncounted warm-up round each (a fresh nginx's first stream pays for its worker's first
upstream connection), then ``rounds`` rounds whose order rotates (A B C, B C A, C A B), so no
config always goes first or last. A ``Delivery`` is one config's counted rounds; ``compare``
sets two side by side by the spread of their rounds' medians and says "faster", "slower" or
"within the spread" (and "inconclusive" when a round lost events); ``sentence`` writes the
lesson's sentence from those numbers, so a run can never contradict it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from lab.balancing import Arrivals, sse_round


@dataclass
class Delivery:
    """One config's counted rounds, ``expected`` events in each."""

    name: str
    expected: int
    rounds: list[Arrivals]
    wait: float

    @property
    def delays(self) -> list[float]:
        return [d for r in self.rounds for d in r.delays]

    @property
    def complete(self) -> bool:
        """Every event of every round arrived within the wait."""
        return all(len(r.delays) == self.expected for r in self.rounds)

    @property
    def arrived(self) -> int:
        return len(self.delays)

    @property
    def total(self) -> int:
        return self.expected * len(self.rounds)

    def round_medians(self) -> list[float]:
        return [statistics.median(r.delays) for r in self.rounds if r.delays]

    def spread(self) -> tuple[float, float]:
        """The lowest and highest of the rounds' median delays, in seconds."""
        medians = self.round_medians()
        return min(medians), max(medians)

    def show(self) -> str:
        """One row: events arrived, median and worst delay, the rounds' medians."""
        head = f"{self.arrived} of {self.total} events within {self.wait:g} s"
        if not self.delays:
            return head
        lo, hi = self.spread()
        return (
            f"{head}; median {ms(statistics.median(self.delays))}, worst {ms(max(self.delays))}"
            f" (round medians {ms(lo, unit=False)}–{ms(hi)}; backends {self.backends()})"
        )

    def backends(self) -> str:
        return ", ".join(r.backend or "?" for r in self.rounds)


def ms(seconds: float, *, unit: bool = True) -> str:
    value = f"{seconds * 1000:.0f}" if seconds >= 0.0095 else f"{seconds * 1000:.1f}"
    return value + (" ms" if unit else "")


def delivery_rounds(
    urls: dict[str, str],
    publish_urls: list[str],
    *,
    rounds: int = 3,
    count: int = 4,
    gap: float = 0.25,
    wait: float = 3.0,
) -> dict[str, Delivery]:
    """``{name: Delivery}`` for each config ``name → balancer url``, in the order given."""
    names = list(urls)
    for name in names:  # warm-up, not counted
        sse_round(urls[name], publish_urls, 1, 0.0, wait)
    counted: dict[str, list[Arrivals]] = {name: [] for name in names}
    for turn in range(rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            counted[name].append(sse_round(urls[name], publish_urls, count, gap, wait))
    return {name: Delivery(name, count, counted[name], wait) for name in names}


def compare(a: Delivery, b: Delivery) -> str:
    """``a`` against ``b``: "faster", "slower", "within the spread" of the rounds' medians, or
    "inconclusive" when either lost an event (a missing event has no delay to compare)."""
    if not (a.complete and b.complete):
        return "inconclusive"
    (a_lo, a_hi), (b_lo, b_hi) = a.spread(), b.spread()
    if a_hi < b_lo:
        return "faster"
    if b_hi < a_lo:
        return "slower"
    return "within the spread"


CONCLUSIONS = {
    "faster": "{a} was faster in every round",
    "slower": "{a} was slower in every round; both are still well inside what a reader notices",
    "within the spread": (
        "the rounds' medians overlap, so this run cannot tell the two apart: with a client "
        "that keeps up, nginx passes each chunk on as it reads it, buffering on or off"
    ),
    "inconclusive": "inconclusive: a round lost events, so the delays cannot be compared",
}


def sentence(deliveries: dict[str, Delivery], ours: str, other: str | None = None) -> str:
    """The lesson's sentence about ``ours`` (and ``other``, when it ran), from the numbers."""
    mine = deliveries[ours]
    if not mine.complete:
        said = f"Through {ours} only {mine.arrived} of {mine.total} events arrived within "
        return said + f"{mine.wait:g} s: inconclusive (a machine this busy measures itself)."
    lo, hi = mine.spread()
    said = (
        f"Through {ours} all {mine.total} events arrived, each within {ms(max(mine.delays))} of "
        f"its post (median {ms(statistics.median(mine.delays))}, the rounds' medians "
        f"{ms(lo, unit=False)}–{ms(hi)})"
    )
    if other is None or other not in deliveries:
        return said + "."
    theirs = deliveries[other]
    verdict = compare(mine, theirs)
    if theirs.delays:
        t_lo, t_hi = theirs.spread()
        said += (
            f"; through {other}, median {ms(statistics.median(theirs.delays))} (rounds "
            f"{ms(t_lo, unit=False)}–{ms(t_hi)})"
        )
    return said + ": " + CONCLUSIONS[verdict].format(a=ours) + "."
