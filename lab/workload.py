"""The publisher side of an experiment: posts at random or steady times (lesson 01)."""

from __future__ import annotations

import random
import time

from servers.feed import Feed


def publish_at_random(
    feed: Feed, count: int, gap: tuple[float, float], *, seed: int = 0, text: str = "news"
) -> list[int]:
    """Publish ``count`` posts, each after a pause drawn uniformly from ``gap`` (seconds).

    Random gaps put posts at random moments relative to any poller's schedule, which is what
    the latency model assumes. Returns the ids published.
    """
    rng = random.Random(seed)
    ids = []
    for n in range(count):
        time.sleep(rng.uniform(*gap))
        ids.append(feed.publish(f"{text} {n + 1}")["id"])
    return ids


def publish_steadily(feed: Feed, rate: float, duration: float, *, text: str = "news") -> list[int]:
    """Publish ``rate`` posts per second for ``duration`` seconds; return the ids."""
    ids = []
    start = time.monotonic()
    for n in range(round(rate * duration)):
        time.sleep(max(0.0, start + (n + 0.5) / rate - time.monotonic()))
        ids.append(feed.publish(f"{text} {n + 1}")["id"])
    time.sleep(max(0.0, start + duration - time.monotonic()))
    return ids
