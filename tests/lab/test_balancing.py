"""lab.balancing: the lesson-09 probes, through the fallback balancer to real backends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from support import wait_until

from lab import balancing
from lab.streams import open_streams
from servers import serve
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
    polls = balancing.session_polls(backends[0].url, 3)
    assert polls == [(201, "test-probe1")] + [(200, "test-probe1")] * 3


def test_session_polls_with_a_client_id_send_it_as_a_cookie_on_every_request():
    cookies = []

    async def session(request):
        cookies.append(request.cookies.get("client"))
        status = 201 if request.method == "POST" else 200
        body = {"session": "s1", "backend": "b"}
        return web.json_response(body, status=status, headers={"X-Backend": "b"})

    app = web.Application()
    app.router.add_post("/session", session)
    app.router.add_get("/session/{id}", session)
    with serve(app, name="test-probe-cookies") as server:
        assert (
            balancing.session_polls(server.url, 2, client_id="c-7")
            == [(201, "b")] + [(200, "b")] * 2
        )
    assert cookies == ["c-7"] * 3


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


@pytest.fixture
def fresh_backends():
    """Backends no earlier test left connections on (closed WebSockets stay counted)."""
    started = start_backends(2, prefix="test-sampler", extra=["--heartbeat", "1"])
    yield started
    for backend in started:
        backend.stop()


def test_the_sampler_counts_the_streams_each_backend_holds_and_none_for_a_silent_one(
    fresh_backends,
):
    names = [b.name for b in fresh_backends]
    silent = SimpleNamespace(name="silent", url="http://127.0.0.1:9")  # nothing listens there
    with balancing.ConnectionSampler([*fresh_backends, silent], interval=0.02) as sampler:
        streams = open_streams("127.0.0.1", fresh_backends[0].port, "/events", 3)
        wait_until(lambda: sampler.latest(names[0]) == 3, what="3 streams counted")
        sampler.note("three streams open")
        for sock in streams:
            sock.close()
        wait_until(lambda: sampler.latest(names[0]) == 0, what="the streams to go")
    assert set(sampler.counts[names[1]]) == {0}
    assert set(sampler.counts["silent"]) == {None} and sampler.latest("silent") == 0
    assert [len(values) for values in sampler.counts.values()] == [len(sampler.times)] * 3
    assert sampler.times == sorted(sampler.times)
    assert [what for _, what in sampler.events] == ["three streams open"]
    assert 3 in sampler.counts[names[0]]
    sampled = len(sampler.times)
    sampler.stop()  # twice is fine, and nothing more is sampled
    assert len(sampler.times) == sampled
    assert balancing.ConnectionSampler(fresh_backends[:1]).window(1.0) == []


def test_the_sampler_counts_one_open_websocket_once_and_a_closed_one_not_at_all(fresh_backends):
    from websockets.sync.client import connect

    backend = fresh_backends[0]
    with balancing.ConnectionSampler([backend], interval=0.02) as sampler:
        with connect(balancing.ws_url(backend.url, "/ws")):
            wait_until(lambda: sampler.latest(backend.name) > 0, what="the socket counted")
            assert sampler.latest(backend.name) == 1
        wait_until(lambda: sampler.latest(backend.name) == 0, timeout=3, what="it to go")


def test_the_sampler_window_keeps_recent_rows_where_every_backend_answered():
    sampler = balancing.ConnectionSampler([SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    sampler.times = [0.0, 1.0, 2.0, 3.0]
    sampler.counts = {"a": [1, 2, None, 4], "b": [5, 6, 7, 8]}
    assert sampler.window(2.0) == [(2, 6), (4, 8)]
    assert sampler.window(10.0) == [(1, 5), (2, 6), (4, 8)]
    assert sampler.latest("a") == 4


def posts_held(url: str) -> int:
    import httpx

    answer = httpx.get(url + "/posts", timeout=5).json()
    return len(answer["posts"] if isinstance(answer, dict) else answer)


def test_an_sse_round_names_the_streams_backend_and_publishes_only_there(backends, round_robin):
    before = {b.name: posts_held(b.url) for b in backends}
    seen = balancing.sse_round(round_robin.url, [b.url for b in backends], 3, 0.05, wait=5)
    assert seen.backend in NAMES and len(seen.delays) == 3, seen
    assert all(d >= 0 for d in seen.delays)
    grown = {b.name: posts_held(b.url) - before[b.name] for b in backends}
    assert grown == {name: 3 if name == seen.backend else 0 for name in NAMES}, grown


def test_sse_arrivals_are_the_rounds_delays(backends):
    delays = balancing.sse_arrivals(backends[0].url, [backends[0].url], 2, 0.05, wait=5)
    assert len(delays) == 2 and all(d >= 0 for d in delays)


def test_an_sse_round_on_a_feed_that_names_no_backend_publishes_on_every_url_given():
    from servers.feed import make_app

    with serve(make_app(), name="test-probe-unnamed") as feed:
        seen = balancing.sse_round(feed.url, [feed.url], 2, 0.05, wait=5)
    assert seen.backend is None and len(seen.delays) == 2, seen
