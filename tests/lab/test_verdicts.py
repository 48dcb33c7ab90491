"""lab.verdicts: choices and verdicts follow the measured numbers, their spread, and whether
the load generator kept up — never a fixed answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.shootout import Round
from lab.verdicts import UseCase, band, choose, compare, judge_claims, saturation

MEASURED = {  # transport: (p50 s, p99 s, requests/s per client, bytes/post, cpu, memory)
    "short polling, 1 s": (0.5, 0.99, 1.0, 200, 0.15, None),
    "short polling, 0.25 s": (0.13, 0.25, 4.0, 500, 0.30, None),
    "long polling": (0.01, 0.05, 3.0, 475, 0.20, 11000),
    "SSE": (0.005, 0.02, 0, 70, 0.10, 13000),
    "WebSocket": (0.004, 0.015, 0, 51, 0.08, 17000),
}


def rounds(clients=(10, 100, 1000), jitter=0.0, client_cpu=0.5, **changes) -> list[Round]:
    """A shown round per transport and count, and one repeat (``jitter`` apart) below the
    largest count."""
    result = []
    for name, (p50, p99, rps, size, cpu, memory) in {**MEASURED, **changes}.items():
        for n in clients:
            shown = Round(name, n, 4.0, 1.5, {"p50": p50, "p99": p99}, rps * n, 0.7, size,
                          cpu, client_cpu, memory)  # fmt: skip
            result.append(shown)
            if n != max(clients):
                grow = 1 + jitter
                result.append(replace(shown, latency={"p50": p50 * grow, "p99": p99 * grow},
                                      bytes_per_post=size * grow, cpu=cpu * grow, repeat=1,
                                      memory_per_client=memory and memory * grow))  # fmt: skip
    return result


def case(budget, two_way=False):
    return UseCase("test", 1000, budget, two_way, "")


def verdicts(measured) -> dict[str, str]:
    return {words: summary for _, words, _, summary in judge_claims(measured)}


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


def test_a_p99_band_straddling_the_budget_is_not_a_fit_and_is_named_a_close_call():
    pick, why = choose(rounds(clients=(100, 1000), jitter=0.5), case(0.021))  # SSE: 0.02–0.03
    assert pick == "WebSocket" and "close call: SSE" in why


def test_a_client_count_not_measured_uses_the_nearest_one_and_says_so():
    pick, why = choose(rounds(clients=(10, 100)), case(0.03))
    assert pick == "SSE" and "100 clients" in why


def test_a_clear_gap_decides_at_every_count():
    assert verdicts(rounds(jitter=0.05))["slightly more overhead (than SSE)"] == "qualifies: " \
        "confirms for heap/client at 10, heap/client at 100, heap/client at 1000; refutes for " \
        "bytes/post at 10, bytes/post at 100, bytes/post at 1000, server CPU at 10, server CPU " \
        "at 100, server CPU at 1000"  # fmt: skip
    assert verdicts(rounds())["lower latency than short polling (every 0.25 s)"] == "confirms"


def test_a_reversed_gap_refutes():
    slow_long = {"long polling": (0.2, 0.3, 3.0, 475, 0.2, 1)}
    assert verdicts(rounds(**slow_long))["lower latency than short polling (every 0.25 s)"] \
        == "refutes"  # fmt: skip


@pytest.mark.parametrize(("more", "size"), [(True, 72), (False, 68)], ids=["more", "less"])
def test_overlapping_spreads_are_inconclusive(more, size):
    # SSE: 70–84 bytes; WebSocket 72–86 (shown above SSE's) or 68–82 (shown below): overlapping
    close = {"WebSocket": (0.004, 0.015, 0, size, 0.08, 17000)}
    verdict = compare(rounds(jitter=0.2, **close), "WebSocket", "SSE", 10, "bytes/post", more=more)
    assert verdict.word == "inconclusive" and "within the spread" in verdict.reason
    assert "70–84" in verdict.reason  # the spread is stated beside the verdict


def test_a_count_measured_once_borrows_the_nearest_repeated_counts_spread():
    measured = rounds(jitter=0.2)
    at_1000, at_100 = (
        band(measured, "SSE", 1000, "bytes/post"),
        band(measured, "SSE", 100, "bytes/post"),
    )
    assert at_1000.borrowed and at_1000.samples == 1 and not at_100.borrowed
    assert at_1000.hi / at_1000.value == pytest.approx(1 + (at_100.hi - at_100.lo) / 2 / 70)


def test_a_saturated_load_generator_makes_every_comparison_it_touches_inconclusive():
    measured = rounds(client_cpu=0.97)
    verdict = compare(measured, "long polling", "short polling, 0.25 s", 10, "p50 latency",
                      more=False)  # fmt: skip
    assert verdict.word == "inconclusive" and "saturated (97% of a core" in verdict.reason
    assert verdicts(measured)["lower latency than short polling (every 0.25 s)"] == \
        "inconclusive everywhere"  # fmt: skip


def test_a_poller_far_below_its_model_marks_the_load_generator_as_fallen_behind():
    measured = rounds(**{"short polling, 0.25 s": (0.13, 0.25, 1.9, 500, 0.30, None)})
    assert "fell behind" in saturation(measured, "short polling, 0.25 s", 1000)
    assert saturation(rounds(), "short polling, 0.25 s", 1000) is None


def test_one_client_count_is_enough_to_judge_the_claims():
    assert len(judge_claims(rounds(clients=(10,)))) == 7


def test_memory_is_judged_heap_against_heap():
    heavy = {"SSE": (0.005, 0.02, 0, 70, 0.10, 50 * 2**20)}
    words = "an open connection per client (more heap than a parked long poll)"
    assert verdicts(rounds(**heavy))[words] == "confirms"
    light = {
        "SSE": (0.005, 0.02, 0, 70, 0.10, 5000),
        "WebSocket": (0.004, 0.015, 0, 51, 0.08, 5000),
    }
    assert verdicts(rounds(**light))[words] == "refutes"


def test_a_busy_machine_makes_timed_comparisons_inconclusive_but_not_heap():
    measured = [replace(r, machine_cpu=0.99) for r in rounds()]
    latency = compare(measured, "SSE", "short polling, 0.25 s", 10, "p50 latency", more=False)
    assert latency.word == "inconclusive" and "machine busy (99%" in latency.reason
    heap = compare(measured, "WebSocket", "SSE", 10, "heap/client", more=True)
    assert heap.word == "confirms"  # measured while parked, before the window
    calm = [replace(r, machine_cpu=0.5) for r in rounds()]
    assert compare(calm, "SSE", "short polling, 0.25 s", 10, "p50 latency", more=False).word == (
        "confirms"
    )


def test_a_choice_made_under_a_limit_says_so():
    busy = [replace(r, machine_cpu=0.99) if r.transport == "SSE" else r for r in rounds()]
    pick, why = choose(busy, case(0.03))
    assert pick == "SSE" and "measured under a limit (load generator or machine): SSE" in why
    assert "under a limit" not in choose(rounds(), case(0.03))[1]
