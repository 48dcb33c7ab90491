"""lab.shootout: a round measures delivered work and what it cost, for every transport."""

from __future__ import annotations

import pytest

from lab.shootout import TRANSPORTS, Transport, loop_cpu_seconds, run_round, sweep


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


def test_memory_is_measured_for_held_connections_in_the_largest_rounds(feed, feed_server):
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
    assert rounds[0].memory_per_client is None and rounds[1].memory_per_client > 0


def test_the_loop_threads_cpu_time_only_grows():
    first = loop_cpu_seconds()
    assert loop_cpu_seconds() >= first >= 0


def test_a_low_rate_stretches_the_window_to_publish_enough_posts(feed, feed_server):
    result = run_round(feed, feed_server.url, Transport("SSE", "sse"), 2, rate=20, window=0.01)
    assert result.latency["n"] == 2 * 3  # MIN_POSTS at every client, the warm-up not counted
