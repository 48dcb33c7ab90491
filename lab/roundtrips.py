"""Round trips of several echoes in alternated rounds, read against a floor (lesson 07).

Timing one echo after another lets the machine change in between (another process wakes, a
core's clock drops), and then a slower protocol can look faster than the floor it is built
on. ``alternate`` opens every connection first, warms each up, then runs short rounds that
take turns (the order rotates each round), so each echo's round ``i`` sits beside the floor's
round ``i`` under the same conditions. ``Comparison.gap`` gives the pooled p50 difference
and the range of the per-round differences; a verdict is "slower" or "faster" only when every
round agrees, otherwise "inconclusive" (within the spread). Every sentence and the plot title
are written from those numbers.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import numpy as np

from lab.echo import WARMUP, Exchange, time_exchanges

SLOWER, FASTER, INCONCLUSIVE = "slower", "faster", "inconclusive"


def _p50(samples: list[float]) -> float:
    return float(np.percentile(samples, 50))


@dataclass(frozen=True)
class Gap:
    """One echo against the floor at p50, in seconds: pooled, and per round."""

    pooled: float
    per_round: list[float]

    @property
    def lo(self) -> float:
        return min(self.per_round)

    @property
    def hi(self) -> float:
        return max(self.per_round)

    @property
    def verdict(self) -> str:
        if self.lo > 0:
            return SLOWER
        if self.hi < 0:
            return FASTER
        return INCONCLUSIVE


@dataclass
class Comparison:
    """Samples per echo, round by round; the first echo given is the floor."""

    floor: str
    rounds: dict[str, list[list[float]]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.rounds)

    def samples(self, name: str) -> list[float]:
        return [s for one_round in self.rounds[name] for s in one_round]

    def p50(self, name: str) -> float:
        return _p50(self.samples(name))

    def gap(self, name: str) -> Gap:
        floor = [_p50(r) for r in self.rounds[self.floor]]
        mine = [_p50(r) for r in self.rounds[name]]
        per_round = [m - f for m, f in zip(mine, floor, strict=True)]
        return Gap(self.p50(name) - self.p50(self.floor), per_round)

    def sentence(self, name: str) -> str:
        """What the run says about ``name`` against the floor, with its spread."""
        gap, n = self.gap(name), len(self.rounds[name])
        spread = f"per-round gaps {gap.lo * 1e6:+.0f} to {gap.hi * 1e6:+.0f} µs"
        if gap.verdict == INCONCLUSIVE:
            return (f"{name}: {gap.pooled * 1e6:+.0f} µs against {self.floor} at p50, "
                    f"inconclusive: the {spread} straddle zero")
        return (f"{name}: {gap.pooled * 1e6:+.0f} µs against {self.floor} at p50, {gap.verdict} "
                f"in every one of {n} rounds ({spread})")

    def title(self) -> str:
        """A plot title that says what this run showed, not what it was expected to show."""
        others = [name for name in self.names if name != self.floor]
        parts = []
        for name in others:
            gap = self.gap(name)
            said = "within the spread" if gap.verdict == INCONCLUSIVE else (
                f"{gap.pooled * 1e6:+.0f} µs")
            parts.append(f"{name} {said}")
        return f"Round trips against {self.floor} at p50:\n" + ", ".join(parts)


async def alternate(echoes: dict[str, object], *, rounds: int = 10, per_round: int = 200,
                    warmup: int = WARMUP) -> Comparison:
    """Time every echo in ``rounds`` alternated rounds of ``per_round`` round trips.

    ``echoes`` maps a name to an async context manager yielding an ``Exchange`` (such as
    ``lab.echo.tcp_exchange(...)``); the first is the floor. All connections stay open
    throughout; each gets ``warmup`` unrecorded round trips first.
    """
    comparison = Comparison(floor=next(iter(echoes)))
    async with AsyncExitStack() as stack:
        exchanges: dict[str, Exchange] = {}
        for name, opener in echoes.items():
            exchanges[name] = await stack.enter_async_context(opener)
            await time_exchanges(exchanges[name], warmup)
            comparison.rounds[name] = []
        names = list(exchanges)
        for i in range(rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                comparison.rounds[name].append(await time_exchanges(exchanges[name], per_round))
    return comparison
