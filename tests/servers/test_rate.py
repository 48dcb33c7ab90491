"""servers.rate.TokenBucket: a burst, then a steady rate, on a clock the test moves."""

from __future__ import annotations

import pytest

from servers.rate import TokenBucket


class Clock(list):
    """Seconds the test sets by hand: ``clock[0] = 0.5``."""

    def __init__(self) -> None:
        super().__init__([0.0])

    def __call__(self) -> float:
        return self[0]


def test_a_full_bucket_lets_a_burst_through_then_refuses():
    bucket = TokenBucket(rate=1.0, capacity=3, clock=Clock())
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_capacity():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock)
    for _ in range(3):
        bucket.take()
    assert bucket.wait() == pytest.approx(0.5)
    clock[0] = 0.5
    assert bucket.take() and not bucket.take()
    clock[0] = 100.0
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_refused_take_costs_nothing():
    clock = Clock()
    bucket = TokenBucket(rate=1.0, capacity=1, clock=clock)
    bucket.take()
    for _ in range(10):
        assert not bucket.take()
    clock[0] = 1.0
    assert bucket.take()


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (1, 0.5)])
def test_a_bucket_that_could_never_give_a_token_is_refused(rate, capacity):
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, capacity=capacity)
