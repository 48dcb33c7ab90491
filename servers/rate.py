"""A token bucket: how many messages a connection may send, and how fast (lesson 12).

A bucket holds at most ``capacity`` tokens and gains ``rate`` tokens a second; each message
takes one, and a message that finds the bucket empty is over the rate. So a client may send a
burst of ``capacity`` at once and then ``rate`` a second for ever, and one that stops sending
earns its burst back. No I/O: the clock is a parameter, so tests move time by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``take()`` is true while the sender is within ``rate`` tokens a second (after a burst
    of up to ``capacity``)."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for at least one token")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self) -> bool:
        """Take one token if there is one; ``False`` (and nothing taken) when over the rate."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)
