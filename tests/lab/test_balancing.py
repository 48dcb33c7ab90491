"""lab.balancing: the lesson-09 probes, through the fallback balancer to real backends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from support import wait_until

from lab import balancing
from lab.streams import open_streams
from servers.balancer import Balancer
from servers.cluster import start_backends

NAMES = ["test-probe1", "test-probe2"]


@pytest.fixture(scope="module")
def backends():
    # a heartbeat each second: a closed stream is noticed at the next write, not in 15 s
    started = start_backends(2, prefix="test-probe", extra=["--heartbeat", "1"])
    yield started
    for backend in started:
        backend.stop()


@pytest.fixture(scope="module")
def round_robin(backends):
    with Balancer([b.address for b in backends], name="test-probe-rr") as balancer:
        yield balancer


def test_session_polls_on_new_connections_find_the_session_only_on_the_backend_that_opened_it(
    round_robin,
):
    polls = balancing.session_polls(round_robin.url, 4)
    (opened, opener), reads = polls[0], polls[1:]
    assert opened == 201 and opener in NAMES and len(reads) == 4
    assert all((status == 200) == (backend == opener) for status, backend in reads), polls
    assert {backend for _, backend in reads} == set(NAMES), "each poll is a new connection"
    assert [status for status, _ in reads].count(404) == 2


def test_session_polls_straight_to_one_backend_always_find_the_session(backends):
    polls = balancing.session_polls(backends[0].url, 3, client_id="c-1")
    assert polls == [(201, "test-probe1")] + [(200, "test-probe1")] * 3


def test_without_a_backplane_only_the_clients_on_the_backend_that_took_a_post_receive_it(
    round_robin,
):
    taker, clients = balancing.who_receives_a_post(round_robin.url, 4)
    assert taker in NAMES
    assert sorted(backend for backend, _ in clients) == sorted(NAMES * 2)  # round-robin
    assert [received for _, received in clients] == [backend == taker for backend, _ in clients]


def test_quiet_connections_through_an_idle_timeout_are_cut_and_straight_ones_are_not(backends):
    idle = 0.3  # below the backends' heartbeat, so a quiet stream is quiet long enough
    with Balancer([backends[0].address], idle_timeout=idle, name="test-probe-idle") as cutting:
        cut = balancing.quiet_lifetimes(cutting.url, scaled_limit(5))
    assert cut["WebSocket"] is not None and cut["SSE"] is not None, cut
    assert balancing.quiet_lifetimes(backends[0].url, 0.5) == {"WebSocket": None, "SSE": None}


def scaled_limit(seconds: float) -> float:
    from servers.timing import scaled

    return scaled(seconds)


def test_the_sampler_counts_the_streams_each_backend_holds_and_none_for_a_silent_one(backends):
    silent = SimpleNamespace(name="silent", url="http://127.0.0.1:9")  # nothing listens there
    with balancing.ConnectionSampler([*backends, silent], interval=0.02) as sampler:
        wait_until(lambda: sampler.times, what="a first sample")
        before = sampler.latest("test-probe1")  # what earlier tests left closing
        streams = open_streams("127.0.0.1", backends[0].port, "/events", 3)
        wait_until(lambda: sampler.latest("test-probe1") == before + 3, what="3 more streams")
        sampler.note("three streams open")
        for sock in streams:
            sock.close()
        wait_until(lambda: sampler.latest("test-probe1") <= before, what="the streams to go")
    assert set(sampler.counts["silent"]) == {None} and sampler.latest("silent") == 0
    assert [len(values) for values in sampler.counts.values()] == [len(sampler.times)] * 3
    assert sampler.times == sorted(sampler.times)
    assert [what for _, what in sampler.events] == ["three streams open"]
    assert before + 3 in sampler.counts["test-probe1"]
    sampled = len(sampler.times)
    sampler.stop()  # twice is fine, and nothing more is sampled
    assert len(sampler.times) == sampled
    assert balancing.ConnectionSampler(backends[:1]).window(1.0) == []


def test_the_sampler_window_keeps_recent_rows_where_every_backend_answered():
    sampler = balancing.ConnectionSampler([SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    sampler.times = [0.0, 1.0, 2.0, 3.0]
    sampler.counts = {"a": [1, 2, None, 4], "b": [5, 6, 7, 8]}
    assert sampler.window(2.0) == [(2, 6), (4, 8)]
    assert sampler.window(10.0) == [(1, 5), (2, 6), (4, 8)]
    assert sampler.latest("a") == 4
