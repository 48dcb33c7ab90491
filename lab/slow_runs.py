"""One workload, against a fan-out design with slow clients and against its twin without them
(lesson 11 introduces it).

``run_beside_twin(make)`` serves two servers of one design (``make()`` returns a
``lab.backpressure.FanOut``): ``a`` gets ``fast`` fast SSE and WebSocket clients plus the slow
ones (``STALLED``), its twin ``b`` the same fast clients and no slow one. One
``lab.slow_clients.Crowd`` process reads both, and each post goes to both feeds at once, so
the two see the same machine at the same moment: whatever else the machine was doing slows
both alike, and a difference between them is the slow clients' doing. (Both servers share the
servers' loop: CPU the slow clients cost ``a`` would slow the twin too; none of the designs
here spends CPU on them.) It publishes ``posts`` posts of ``size`` characters at ``rate`` a
second, waits until every fast client has the last one (with ``wait_slow``, every sleepy
client too; or ``give_up`` seconds), and returns a ``Run``. ``harm`` reads it into a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lab.backpressure import FanOut
from lab.slow_clients import Crowd, CrowdResults, Slow, SlowLog
from lab.stats import summarize
from servers import serve
from servers.timing import wait_until

STALLED = [Slow(kind, "stalled") for kind in ("sse", "ws")] + [
    Slow(kind, "sleepy", read_size=16_384, pause=0.05) for kind in ("sse", "ws")
]
"""The slow clients of the lesson's runs: on each transport, one that never reads and one that
reads 16 KiB every 50 ms (about 330 KB/s, slower than the workload's posts)."""


@dataclass
class Run:
    label: str
    published: list[dict]
    twin_published: list[dict]
    samples: list[tuple[float, int, int]]
    """``(seconds since the first post, bytes held, of which in the design's own queues)``."""
    twin_samples: list[tuple[float, int, int]]
    all_arrived: bool
    """Every fast client of both servers had every post before the run ended."""
    slow: list[SlowLog]
    kicked: int
    fast: CrowdResults

    def latency(self, kind: str, *, twin: bool = False) -> dict[str, float]:
        published = self.twin_published if twin else self.published
        return summarize(self.fast.latencies(kind, published, twin=twin))

    def p99(self, *, twin: bool = False) -> float:
        """The worse of the two transports' p99, in seconds."""
        return max(self.latency(kind, twin=twin)["p99"] for kind in ("sse", "ws"))

    def delivered_share(self, kind: str) -> float:
        return self.fast.delivered_share(kind, self.published)

    def peak_held(self, *, twin: bool = False) -> int:
        return max((b for _, b, _ in (self.twin_samples if twin else self.samples)), default=0)


def run_beside_twin(
    make: Callable[[], FanOut],
    *,
    slow: list[Slow] = STALLED,
    fast: int = 10,
    posts: int = 200,
    rate: float = 100.0,
    size: int = 8000,
    give_up: float = 0.5,
    wait_slow: bool = False,
    label: str = "",
) -> Run:
    """The run above; both servers stop before this returns."""
    a, b = make(), make()
    name = f"lesson11-{a.design}"
    with (
        serve(a.app(), name=name) as server,
        serve(b.app(), name=name + "-twin") as twin,
        Crowd(server.url, fast=fast, slow=list(slow), since=a.feed.last_id, twin=twin.url) as crowd,
    ):
        wait_until(lambda: a.holdings.open_streams >= crowd.connections, 20, "every stream")
        wait_until(lambda: b.holdings.open_streams >= 2 * fast, 20, "the twin's streams")
        twin_published = []
        start = time.time()
        published = publish(
            a.feed,
            posts,
            rate,
            size,
            each=lambda post: twin_published.append(b.feed.publish(post["text"])),
        )
        arrived = crowd.wait_for(published[-1]["id"], give_up=give_up, slow=wait_slow)
        end = time.time()
    samples = [
        [(t - start, held, queued) for t, held, queued in design.holdings.window(start, end)]
        for design in (a, b)
    ]
    return Run(
        label or a.design,
        published,
        twin_published,
        *samples,
        arrived,
        crowd.results.slow,
        a.kicked,
        crowd.results,
    )


def publish(feed, posts: int, rate: float, size: int, *, each=None) -> list[dict]:
    """``posts`` posts of about ``size`` characters, paced at ``rate`` a second (catching up
    after a late one rather than drifting); ``each(post)`` is called after each."""
    published, start = [], time.monotonic()
    for n in range(posts):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        published.append(feed.publish(f"post {n} " + "x" * (size - 12)))
        if each is not None:
            each(published[-1])
    return published


def queued_at(run: Run, seconds: float) -> int:
    """Bytes in the design's own queues at the last sample no later than ``seconds`` after
    the first post."""
    return next((q for t, _, q in reversed(run.samples) if t <= seconds), 0)


def grows(run: Run, *, factor: float = 1.5) -> bool:
    """Memory that grows with the posts: the design's own queues held more than ``factor``
    times as much at the end of publishing as halfway through, and more than one post per
    slow client (queues that fill and stay full do not grow; the connections' write buffers,
    bounded by the libraries, are left out: they fill at the start of every design)."""
    publishing = run.published[-1]["ts"] - run.published[0]["ts"]
    half, end = queued_at(run, publishing / 2), queued_at(run, publishing)
    size = len(run.published[-1]["text"])
    return end > factor * half and end > size * max(len(run.slow), 1)


def harm(run: Run, *, factor: float = 2.0) -> str:
    """Whether the slow clients hurt: by latency (the worse transport's p99 more than
    ``factor`` times the twin's, measured at the same moments) or by memory (``grows``)."""
    slower = run.p99() > factor * run.p99(twin=True)
    growing = grows(run)
    if slower and growing:
        return "hurts everyone: the fast clients waited, and memory grew with every post"
    if slower:
        return "hurts everyone: the fast clients waited"
    if growing:
        return "hurts the server: memory grew with every post"
    return "contained: fast clients as fast as the twin's, memory bounded"


async def comes_back(url: str, last_event_id: int, *, events: int, timeout: float = 10.0):
    """Open ``GET /events`` with ``Last-Event-ID``, as an ``EventSource`` does when it
    reconnects (lesson 04), and return its first ``events`` events (``servers.sse.Event``)."""
    import asyncio

    import aiohttp

    from servers.sse import EventParser
    from servers.timing import scaled

    parser, got = EventParser(), []
    headers = {"Last-Event-ID": str(last_event_id), "Accept": "text/event-stream"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "/events", headers=headers) as response,
        asyncio.timeout(scaled(timeout)),
    ):
        async for chunk in response.content.iter_any():
            got += parser.feed(chunk)
            if len(got) >= events:
                return got[:events]
    return got
