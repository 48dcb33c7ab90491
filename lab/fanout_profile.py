"""Where a fan-out's time goes: a profile of posts reaching many clients (lesson 11).

``profile_fan_out(app, parked, publish)`` serves ``app`` on the servers' loop, connects
``clients`` SSE (or WebSocket) clients from a separate process (``lab.loadgen``), waits until
``parked()`` counts them all at the server, then profiles the servers' loop thread
(``cProfile``, switched on from inside that thread: a profiler sees only its own thread)
while ``posts`` posts are published, a fifth of a second apart, and every client has them.
It returns a ``FanOutProfile``: the ``pstats.Stats`` and the loop's CPU seconds per post, so
a cell can print the functions that cost most and compare designs. In a cell::

    feed = Feed()
    profile = profile_fan_out(make_app(feed), lambda: feed.waiting, feed.publish)
    print(profile.table(15))
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from lab.loadgen import Group, LoadGenerator
from lab.stats import check_delivered_once_in_order
from servers import runtime, serve
from servers.timing import wait_until


@dataclass
class FanOutProfile:
    stats: pstats.Stats
    cpu_per_post: float
    """CPU seconds the servers' loop thread spent per post (profiler overhead included)."""
    clients: int
    posts: int

    def table(self, top: int = 20, sort: str = "tottime") -> str:
        """The ``top`` functions by ``sort`` (``"tottime"``: time in the function itself;
        ``"cumulative"``: with what it called), as ``pstats`` prints them."""
        out = io.StringIO()
        self.stats.stream = out
        self.stats.sort_stats(sort).print_stats(top)
        return out.getvalue()


def _on_loop(action: Callable[[], float]) -> float:
    async def run() -> float:
        return action()

    return runtime.run(run())


def profile_fan_out(
    app: web.Application,
    parked: Callable[[], int],
    publish: Callable[[str], dict],
    *,
    clients: int = 1000,
    posts: int = 5,
    kind: str = "sse",
    text: str = "a post of about a hundred characters, " * 2,
) -> FanOutProfile:
    """Profile ``posts`` posts reaching ``clients`` clients of ``kind`` ("sse" or "ws")."""
    profiler = cProfile.Profile()
    with serve(app, name="fan-out-profile") as server, LoadGenerator(
        server.url, [Group("clients", kind, clients)], since=0
    ) as load:
        wait_until(lambda: parked() >= clients, 60, f"{clients} clients parked at the server")
        cpu = _on_loop(lambda: (profiler.enable(), time.thread_time())[1])
        ids = []
        for n in range(posts):
            time.sleep(0.2)
            ids.append(publish(f"{n} {text}")["id"])
        wait_until(lambda: load.mark()["clients"]["deliveries"] >= clients * posts, 60,
                   "every client to get every post")  # fmt: skip
        cpu = _on_loop(lambda: (profiler.disable(), time.thread_time())[1]) - cpu
    check_delivered_once_in_order(load.results["clients"].received_ids(), ids)
    return FanOutProfile(pstats.Stats(profiler), cpu / posts, clients, posts)
