"""lab.delivery: alternating, warmed-up SSE rounds and the sentence written from them."""

from __future__ import annotations

import pytest

from lab import delivery
from lab.balancing import Arrivals
from lab.delivery import Delivery, compare, sentence


def rounds(*delays_ms: list[float], backend: str = "b1") -> list[Arrivals]:
    return [Arrivals(backend, [d / 1000 for d in ds]) for ds in delays_ms]


FAST = Delivery("A", 3, rounds([1, 2, 3], [2, 3, 4], [1, 1, 2]), 3.0)
SLOW = Delivery("B", 3, rounds([50, 60, 70], [40, 45, 50], [55, 60, 65]), 3.0)
OVERLAPS = Delivery("C", 3, rounds([1, 2, 3], [3, 4, 5], [2, 2, 2]), 3.0)
LOST = Delivery("D", 3, rounds([1, 2, 3], [1, 2]), 3.0)
HELD = Delivery("E", 3, rounds([], [], []), 3.0)
LOWER = Delivery("F", 3, rounds([1, 2, 3], [2, 3, 4], [3, 4, 5]), 3.0)
HIGHER = Delivery("G", 3, rounds([2, 3, 4], [3, 4, 5], [4, 5, 6]), 3.0)


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        (FAST, SLOW, "faster"),
        (SLOW, FAST, "slower"),
        (FAST, OVERLAPS, "within the spread"),
        (FAST, LOST, "inconclusive"),
        (LOST, FAST, "inconclusive"),
        (FAST, HELD, "inconclusive"),
        (LOWER, HIGHER, "within the spread"),  # a lower median alone is not faster
    ],
)
def test_compare_reads_the_spread_of_the_rounds_medians(a, b, verdict):
    assert compare(a, b) == verdict


def test_the_sentence_gives_the_worst_delay_and_the_verdict_from_the_numbers():
    said = sentence({"A": FAST, "B": SLOW}, "A", "B")
    assert "all 9 events arrived, each within 4.0 ms" in said
    assert "A was faster in every round" in said and "median 55 ms" in said
    assert "cannot tell the two apart" in sentence({"A": FAST, "C": OVERLAPS}, "A", "C")
    assert "slower in every round" in sentence({"B": SLOW, "A": FAST}, "B", "A")


def test_the_sentence_without_the_other_config_says_only_what_ran():
    said = sentence({"A": FAST}, "A", "B")
    assert said.endswith("1.0–3.0 ms).") and "B" not in said.replace("backend", "")


def test_a_round_that_lost_events_makes_the_sentence_inconclusive():
    said = sentence({"D": LOST, "A": FAST}, "D", "A")
    assert "only 5 of 6 events" in said and "inconclusive" in said


def test_the_rows_show_what_arrived_and_held_rows_no_delay():
    assert FAST.show().startswith("9 of 9 events within 3 s; median 2.0 ms, worst 4.0 ms")
    assert HELD.show() == "0 of 9 events within 3 s"


def test_rounds_are_warmed_up_uncounted_then_alternate(monkeypatch):
    calls = []

    def fake_round(url, publish_urls, count, gap, wait):
        calls.append((url, count))
        return Arrivals("b1", [0.001] * count)

    monkeypatch.setattr(delivery, "sse_round", fake_round)
    got = delivery.delivery_rounds({"A": "a", "B": "b", "C": "c"}, [], rounds=3, count=2)
    assert calls[:3] == [("a", 1), ("b", 1), ("c", 1)]  # the warm-ups
    assert "".join(url for url, _ in calls[3:]) == "abcbcacab"
    assert all(len(d.rounds) == 3 and d.total == 6 for d in got.values())
