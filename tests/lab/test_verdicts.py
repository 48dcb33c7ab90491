"""lab.verdicts: choices and verdicts follow the measured numbers, not a fixed answer."""

from __future__ import annotations

import pytest

from lab.shootout import Round
from lab.verdicts import UseCase, choose, judge_claims

MEASURED = {  # transport: (p50 s, p99 s, requests/s, bytes/post, cpu share, memory per client)
    "short polling, 1 s": (0.5, 0.99, 1000, 200, 0.15, None),
    "short polling, 0.25 s": (0.13, 0.25, 4000, 500, 0.30, None),
    "long polling": (0.01, 0.05, 3000, 475, 0.20, 11000),
    "SSE": (0.005, 0.02, 0, 70, 0.10, 13000),
    "WebSocket": (0.004, 0.015, 0, 51, 0.08, 17000),
}


def rounds(clients=(10, 100, 1000), **changes) -> list[Round]:
    result = []
    for name, (p50, p99, rps, size, cpu, memory) in {**MEASURED, **changes}.items():
        for n in clients:
            result.append(Round(name, n, 4.0, 1.5, {"p50": p50, "p99": p99}, rps, 0.7, size,
                                cpu, 0.5, memory))  # fmt: skip
    return result


def case(budget, two_way=False):
    return UseCase("test", 1000, budget, two_way, "")


def test_a_loose_budget_picks_the_simplest_transport_within_the_cpu_headroom():
    assert choose(rounds(), case(2.0))[0] == "short polling, 1 s"


def test_a_tight_budget_rules_out_polling():
    assert choose(rounds(), case(0.03))[0] == "SSE"


def test_a_simpler_transport_far_costlier_than_the_cheapest_is_passed_over():
    costly_sse = {"SSE": (0.005, 0.02, 0, 70, 0.50, 13000)}
    assert choose(rounds(**costly_sse), case(0.03))[0] == "WebSocket"


def test_a_two_way_use_case_gets_websocket_or_nothing():
    assert choose(rounds(), case(2.0, two_way=True))[0] == "WebSocket"
    assert choose(rounds(), case(0.001, two_way=True))[0] == "none measured"


@pytest.mark.parametrize(
    ("changes", "claim", "verdict"),
    [
        ({}, "slightly more overhead", "refutes, per message"),
        ({"WebSocket": (0.004, 0.015, 0, 90, 0.08, 17000)}, "slightly more overhead", "confirms"),
        ({}, "lower latency than short polling", "confirms"),
        ({"long polling": (0.2, 0.3, 3000, 475, 0.2, 1)}, "lower latency than short polling",
         "refutes"),
    ],
)  # fmt: skip
def test_a_verdict_follows_the_numbers(changes, claim, verdict):
    rows = {words: judged for _, words, _, judged in judge_claims(rounds(**changes))}
    assert rows[claim] == verdict


def test_a_client_count_not_measured_uses_the_nearest_one_and_says_so():
    pick, why = choose(rounds(clients=(10, 100)), case(0.03))
    assert pick == "SSE" and "100 clients" in why


def test_one_client_count_is_enough_to_judge_the_claims():
    assert len(judge_claims(rounds(clients=(10,)))) == 7


def test_the_memory_verdict_follows_the_memory_measured():
    heavy = {"SSE": (0.005, 0.02, 0, 70, 0.10, 50 * 2**20)}
    verdicts = [judged for _, words, _, judged in judge_claims(rounds(**heavy))
                if words == "an open connection per client"]  # fmt: skip
    assert verdicts[0].startswith("confirms")
    light = [j for _, w, _, j in judge_claims(rounds()) if w == "an open connection per client"]
    assert light[0].startswith("qualifies")
