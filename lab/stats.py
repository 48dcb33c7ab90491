"""Summaries of what the instruments recorded: percentiles, and delivery checks (lesson 01)."""

from __future__ import annotations

import numpy as np


def summarize(values: list[float]) -> dict[str, float]:
    """``n``, ``mean``, ``p50``, ``p90``, ``p99`` and ``max`` of a sample (nan when empty)."""
    if not values:
        return dict.fromkeys(["n", "mean", "p50", "p90", "p99", "max"], float("nan"))
    array = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(array, [50, 90, 99])
    return {
        "n": len(array),
        "mean": float(array.mean()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(array.max()),
    }


def check_delivered_once_in_order(received: list[list[int]], published: list[int]) -> None:
    """Every client received every published id exactly once, in order; else say who did not."""
    problems = []
    for client, ids in enumerate(received):
        if ids != published:
            missing = sorted(set(published) - set(ids))
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            extra = sorted(set(ids) - set(published))
            problems.append(
                f"client {client}: missing {missing[:5]}, repeated {repeated[:5]}, "
                f"unexpected {extra[:5]}, in order: {ids == sorted(ids)}"
            )
    if problems:
        shown = "\n".join(problems[:5])
        raise AssertionError(
            f"{len(problems)} of {len(received)} clients did not get every post "
            f"exactly once, in order:\n{shown}"
        )
