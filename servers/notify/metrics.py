"""What a person reads at ``GET /metrics``, and the small JSON of ``GET /health`` (lesson 14).

Plain text, one line a number, each saying what it counts: connected clients (SSE streams
and WebSockets), posts taken per second over the last ``WINDOW`` seconds, and the drops: the
streams let go for being slow (lesson 11's write timeout, ``servers.stalls``). Delivery
latency is measured from outside, by the lesson's clients, not here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 10.0
"""Seconds over which posts per second are counted."""


class PostRate:
    """Posts taken by this backend: in all, and per second over the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self.total = 0
        self._times: deque[float] = deque()

    def taken(self) -> None:
        self.total += 1
        self._times.append(self.clock())

    def per_second(self) -> float:
        cutoff = self.clock() - self.window
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()
        return len(self._times) / self.window


def render(numbers: dict) -> str:
    """The metrics page: ``numbers`` as ``health``/``snapshot`` collects them."""
    lines = [
        f"notification service ({numbers['broker']} backplane), up {numbers['uptime']:.0f} s",
        f"connected clients  {numbers['clients']} "
        f"(SSE streams {numbers['streams']}, WebSockets {numbers['sockets']})",
        f"channels open      {numbers['channels']} ({numbers['subscribed']} on the backplane)",
        f"posts taken        {numbers['posts']} "
        f"({numbers['posts_per_s']:.2f}/s over the last {numbers['window']:g} s)",
        f"drops              {numbers['let_go']} streams let go for being slow (write timeout "
        f"{numbers['write_timeout']:g} s)",
    ]
    return "\n".join(lines) + "\n"
