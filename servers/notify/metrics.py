"""What a person reads at ``GET /metrics``, and the small JSON of ``GET /health`` (lesson 14).

Plain text, one line a number, each saying what it counts: connected clients (SSE streams
and WebSockets), posts taken per second over the last ``WINDOW`` seconds, the delivery lag's
p99, and the drops: the streams let go for being slow (lesson 11's write timeout,
``servers.stalls``).

The **delivery lag** is the server's share of a post's delivery: from its ``ts`` (stamped by
whichever backend took the ``POST``, wall clock) to the moment this backend has handed it to
the sockets of every client keeping up (``DeliveryLag``: sampled just after the channel's
broadcasters wrote it). It leaves out the network and the client, which only the lesson's
clients, measuring from outside, can include; and a stream catching up (lesson 11) is not in
it. Wall clocks of different machines disagree, so across machines read it as an estimate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

WINDOW = 10.0
"""Seconds over which posts per second are counted."""
LAG_WINDOW = 60.0
"""Seconds of delivery-lag samples the p99 is taken over."""
LAG_SAMPLES = 10_000
"""At most this many of the newest samples are kept (a burst cannot grow memory)."""


class PostRate:
    """Posts taken by this backend: in all, and per second over the last ``window`` seconds;
    ``replayed`` counts retries answered with a post taken before (an idempotency key)."""

    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self.total = self.replayed = 0
        self._times: deque[float] = deque()

    def taken(self) -> None:
        self.total += 1
        self._times.append(self.clock())

    def replay(self) -> None:
        """A retry answered with a post taken before: counted apart, not as a post."""
        self.replayed += 1

    def per_second(self) -> float:
        cutoff = self.clock() - self.window
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()
        return len(self._times) / self.window


class DeliveryLag:
    """Publish → handed to this backend's sockets, per post, over the last ``window`` seconds."""

    def __init__(self, window: float = LAG_WINDOW, clock: Callable[[], float] = time.time):
        self.window, self.clock = window, clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=LAG_SAMPLES)  # (when, lag)

    def watch(self, feed) -> Callable[[], None]:
        """Sample every post ``feed`` gets from now on; returns the function that stops it.
        Call it before any stream of the feed starts: its broadcasters' callbacks then run
        before the sample, which is scheduled behind them."""
        loop = asyncio.get_running_loop()
        seen = [feed.last_id]

        def on_posts() -> None:
            posts = feed.since(seen[0])
            if posts:
                seen[0] = posts[-1]["id"]
                if feed.waiting:  # a post no client waited for was delivered to nobody
                    loop.call_soon(self.record, [post["ts"] for post in posts])

        return feed.listen(on_posts)

    def record(self, stamps: list[float]) -> None:
        now = self.clock()
        self._samples.extend((now, now - ts) for ts in stamps)

    def p99(self) -> float | None:
        """The 99th percentile (nearest rank) of the window's lags; None without samples."""
        cutoff = self.clock() - self.window
        while self._samples and self._samples[0][0] <= cutoff:
            self._samples.popleft()
        lags = sorted(lag for _, lag in self._samples)
        if not lags:
            return None
        return lags[max(0, math.ceil(0.99 * len(lags)) - 1)]

    def count(self) -> int:
        return len(self._samples)


def render(numbers: dict) -> str:
    """The metrics page: ``numbers`` as ``health``/``snapshot`` collects them."""
    lines = [
        f"notification service ({numbers['broker']} backplane), up {numbers['uptime']:.0f} s",
        f"connected clients  {numbers['clients']} "
        f"(SSE streams {numbers['streams']}, WebSockets {numbers['sockets']})",
        f"channels open      {numbers['channels']} ({numbers['subscribed']} on the backplane)",
        f"posts taken        {numbers['posts']} "
        f"({numbers['posts_per_s']:.2f}/s over the last {numbers['window']:g} s; "
        f"{_replays(numbers['replayed'])})",
        f"delivery lag p99   {_ms(numbers['lag_p99'])} over {numbers['lag_samples']} "
        f"posts in the last {numbers['lag_window']:g} s (publish -> handed to this "
        "backend's sockets)",
        f"drops              {numbers['let_go']} streams let go for being slow (write timeout "
        f"{numbers['write_timeout']:g} s)",
    ]
    return "\n".join(lines) + "\n"


def _replays(count: int) -> str:
    if count == 1:
        return "1 retry answered from its Idempotency-Key"
    return f"{count} retries answered from their Idempotency-Key"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"
