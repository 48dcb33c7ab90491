"""lab.sse_claim: the seed's SSE claim judged from lesson 09's numbers."""

from __future__ import annotations

from lab.balancing import Arrivals
from lab.delivery import Delivery
from lab.sse_claim import judge


def delivery(*counts: int) -> Delivery:
    return Delivery("the block", 4, [Arrivals("b1", [0.002] * n) for n in counts], 3.0)


CUT = {"no heartbeat": {"SSE": 3.6}, "heartbeats": {"SSE": None}}
NEVER_CUT = {"no heartbeat": {"SSE": None}, "heartbeats": {"SSE": None}}
STUCK = {"b1": 150, "b2": 150, "b3": 0}
EVEN = {"b1": 100, "b2": 100, "b3": 100}


def test_sse_through_the_block_with_conditions_found_is_true_with_conditions():
    said = judge(delivery(4, 4), delivery(0, 0), CUT, STUCK, "b3")
    assert said.verdict == "true with conditions"
    assert [c.holds for c in said.conditions] == [True, True, True]
    text = said.show()
    assert "through the block, 8 of 8 events arrived" in text
    assert "0 of 8 events arrived within 3 s" in text and "cut after 3.6 s" in text
    assert "b3 restarted it held 0 streams, the others 300" in text and "lesson 10" in text


def test_no_condition_found_confirms_the_claim():
    said = judge(delivery(4, 4), delivery(4, 4), NEVER_CUT, EVEN, "b3")
    assert said.verdict == "confirmed" and not any(c.holds for c in said.conditions)


def test_on_the_fallback_buffering_is_not_measured_and_cited_from_lesson_03():
    said = judge(delivery(4), None, CUT, STUCK, "b3")
    assert said.conditions[0].holds is None and "lesson 03" in said.conditions[0].evidence
    assert said.verdict == "true with conditions"


def test_lost_events_make_it_inconclusive_and_none_through_the_block_refutes_it():
    assert judge(delivery(4, 3), None, CUT, STUCK, "b3").verdict == "inconclusive"
    assert judge(delivery(0, 0), None, CUT, STUCK, "b3").verdict == "refuted"
