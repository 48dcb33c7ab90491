"""lab.shootout: a round measures delivered work and what it cost, for every transport."""

from __future__ import annotations

import time

import pytest

from lab.shootout import TRANSPORTS, Transport, by_transport, loop_cpu_seconds, run_round, sweep
from servers import runtime


@pytest.mark.parametrize("transport", TRANSPORTS, ids=lambda t: t.kind + str(t.interval or ""))
def test_a_round_delivers_every_post_and_measures_its_cost(feed, feed_server, transport):
    result = run_round(feed, feed_server.url, transport, 3, rate=10, window=0.5)
    assert result.latency["n"] == 3 * 5  # every post at every client
    assert 0 <= result.latency["p50"] <= result.latency["p99"]
    assert (0 <= result.empty_share <= 1) == (transport.kind in ("short", "long"))
    assert result.bytes_per_post > 0 and result.cpu >= 0 and result.client_cpu >= 0
    if transport.holds_a_connection:
        assert result.memory_per_client is None
    if transport.kind == "short":
        assert result.requests_per_s > 0
    if transport.kind in ("sse", "ws"):
        assert result.requests_per_s == 0  # one connection each, opened before the window


def test_heap_is_measured_for_held_connections_in_every_round(feed, feed_server):
    ws = Transport("WebSocket", "ws")
    steps = []
    rounds = sweep(
        feed,
        feed_server.url,
        (ws,),
        [2, 4],
        rate=10,
        window=0.2,
        progress=lambda done, total, what: steps.append((done, total)),
    )
    assert [r.clients for r in rounds] == [2, 4] and steps == [(0, 2), (1, 2), (2, 2)]
    assert rounds[0].memory_per_client > 0 and rounds[1].memory_per_client > 0


def burn(cpu_seconds: float) -> None:
    """Keep the calling thread busy until it has used ``cpu_seconds`` of CPU."""
    end = time.thread_time() + cpu_seconds
    while time.thread_time() < end:
        pass


def test_the_loop_threads_cpu_time_counts_work_on_the_loop_and_not_on_the_calling_thread():
    async def on_the_loop():
        burn(0.2)

    start = loop_cpu_seconds()
    burn(0.2)  # on this thread: not the servers' work
    after_caller = loop_cpu_seconds()
    runtime.run(on_the_loop())
    after_loop = loop_cpu_seconds()
    assert after_caller - start < 0.1, "the calling thread's CPU time was counted"
    assert after_loop - after_caller >= 0.2, "the loop thread's CPU time was not counted"


def test_a_low_rate_stretches_the_window_to_publish_enough_posts(feed, feed_server):
    result = run_round(feed, feed_server.url, Transport("SSE", "sse"), 2, rate=20, window=0.01)
    assert result.latency["n"] == 2 * 3  # MIN_POSTS at every client, the warm-up not counted


def test_repeats_run_every_count_but_the_largest_again_over_the_shorter_window(feed, feed_server):
    sse = Transport("SSE", "sse")
    rounds = sweep(feed, feed_server.url, (sse,), [2, 3], rate=20, window=0.3, repeats=1,
                   repeat_window=0.15)  # fmt: skip
    assert [(r.clients, r.repeat) for r in rounds] == [(2, 0), (3, 0), (2, 1)]
    assert rounds[2].window < rounds[0].window  # the repeat measured the shorter window
    assert all(r.memory_per_client > 0 for r in rounds)  # heap measured in every held round
    assert [r.repeat for r in by_transport(rounds)["SSE"]] == [0, 0]  # figures show the first


def test_a_round_records_how_busy_the_whole_machine_was(feed, feed_server):
    result = run_round(feed, feed_server.url, Transport("SSE", "sse"), 2, rate=20, window=0.2)
    assert 0 <= result.machine_cpu <= 1
