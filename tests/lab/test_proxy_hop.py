"""lab.proxy_hop: arrival times per event, and per-post delays paired across streams."""

from __future__ import annotations

import asyncio

import pytest

from lab.proxy_hop import HopRun, event_arrivals, paired_delays
from servers import clock, serve
from servers.timing import scaled

SSE = {"Accept": "text/event-stream"}


def test_a_streamed_finite_clock_gives_one_rising_arrival_per_event():
    with serve(clock.make_clock_app(interval=scaled(0.2), count=3)) as clock_server:
        times = event_arrivals(clock_server.url + "/time", SSE)
    assert len(times) == 3 and times == sorted(times) and len(set(times)) == 3


def test_every_post_is_timed_on_every_stream_in_publish_order(feed, feed_server):
    url = feed_server.url + "/events"
    run = asyncio.run(paired_delays(feed, {"one": (url, SSE), "two": (url, SSE)}, posts=5))
    assert [len(run.delays[name]) for name in ("one", "two")] == [5, 5]
    assert all(d > 0 for delays in run.delays.values() for d in delays)
    assert feed.last_id == 5


def test_the_added_delay_is_the_median_of_the_per_post_differences():
    run = HopRun({"proxy": [0.003, 0.010, 0.004], "direct": [0.001, 0.002, 0.003]})
    assert run.added("proxy", "direct") == pytest.approx(0.002)
    assert run.p50("proxy") == pytest.approx(0.004)
