"""lab.workload: publishers that put posts at random or steady moments, on a fake clock."""

from __future__ import annotations

import random

import pytest

from lab import workload
from servers.feed import Feed


class FakeClock:
    """Stands in for the ``time`` module in lab.workload: sleeping moves ``now`` on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"asked to sleep {seconds} s"
        self.pauses.append(seconds)
        self.now += seconds


class ClockedFeed(Feed):
    """A feed that notes the fake clock's time of each publish."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.fake_clock, self.published_at = clock, []

    def publish(self, text: str) -> dict:
        self.published_at.append(self.fake_clock.now)
        return super().publish(text)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(workload, "time", fake)
    return fake


def test_random_publishing_pauses_within_the_gap_before_each_post_and_returns_their_ids(clock):
    feed = ClockedFeed(clock)
    ids = workload.publish_at_random(feed, 5, gap=(0.2, 0.8), seed=3, text="tick")
    assert ids == [p["id"] for p in feed.since(0)] == [1, 2, 3, 4, 5]
    assert [p["text"] for p in feed.since(0)] == [f"tick {n}" for n in range(1, 6)]
    assert len(clock.pauses) == 5 and all(0.2 <= pause <= 0.8 for pause in clock.pauses)
    assert feed.published_at[0] == 100.0 + clock.pauses[0]  # a pause comes before each post


def test_random_publishing_is_repeatable_by_seed_and_differs_across_seeds(monkeypatch):
    def pauses(seed: int) -> list[float]:
        fake = FakeClock()
        monkeypatch.setattr(workload, "time", fake)
        workload.publish_at_random(Feed(), 6, gap=(0.0, 1.0), seed=seed)
        return fake.pauses

    rng = random.Random(7)
    assert pauses(7) == pauses(7) == [rng.uniform(0.0, 1.0) for _ in range(6)]
    assert pauses(7) != pauses(8)


def test_steady_publishing_puts_each_post_mid_slot_and_returns_after_the_whole_duration(clock):
    feed = ClockedFeed(clock)
    ids = workload.publish_steadily(feed, rate=4, duration=2.0)
    assert ids == list(range(1, 9))
    offsets = [round(at - 100.0, 9) for at in feed.published_at]
    assert offsets == [0.125, 0.375, 0.625, 0.875, 1.125, 1.375, 1.625, 1.875]
    assert clock.now == pytest.approx(102.0)  # the window is kept even after the last post


def test_steady_publishing_catches_up_after_a_slow_publish_instead_of_drifting(clock):
    class SlowFeed(ClockedFeed):
        def publish(self, text: str) -> dict:
            post = super().publish(text)
            if post["id"] == 1:
                self.fake_clock.now += 0.6  # the first publish took 0.6 s
            return post

    feed = SlowFeed(clock)
    workload.publish_steadily(feed, rate=2, duration=2.0)
    offsets = [round(at - 100.0, 9) for at in feed.published_at]
    assert offsets == [0.25, 0.85, 1.25, 1.75]  # the second is late, the rest on schedule
