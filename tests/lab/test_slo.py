"""lab.slo: the SLO run counts every delivery, and its verdict follows the numbers (lesson 14)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from aiohttp import web

from lab import slo, slo_figures
from servers import serve
from servers.notify import make_app

SMALL = slo.Objective(target=0.25, clients=20, rate=20)


@pytest.fixture(scope="module")
def small_run() -> slo.SloRun:
    with serve(make_app(), name="test-slo") as server:
        backends = {"backend": server.port}
        return slo.measure(server.url, SMALL, warmup=0.5, window=1.0, backends=backends)


def test_a_small_run_delivers_every_window_post_once_to_every_client(small_run):
    assert small_run.clients == 20
    assert small_run.posts == 20
    assert (small_run.lost, small_run.duplicates, small_run.reconnects) == (0, 0, 0)
    assert len(small_run.latencies) == small_run.clients * small_run.posts


def test_a_small_runs_numbers_agree_with_each_other(small_run):
    stats = small_run.stats
    assert all(latency >= 0 for latency in small_run.latencies)
    assert 0 <= stats["p50"] <= stats["p99"] <= stats["max"]
    assert small_run.buckets and all(p99 <= stats["max"] for _, p99 in small_run.buckets)
    assert [start for start, _ in small_run.buckets] == sorted(s for s, _ in small_run.buckets)
    assert small_run.rate == pytest.approx(small_run.posts / small_run.window)
    assert small_run.client_cpu >= 0 and 0 <= small_run.machine.busy <= 1
    assert slo.untested(small_run) == []  # it ran as stated: 20 clients, 20 posts/s


def test_a_small_run_reads_its_backends_cpu_found_by_the_port_it_listens_on(small_run):
    assert small_run.backends == ("backend (this kernel)",)
    assert small_run.server_cpu["backend (this kernel)"] > 0
    assert "deliveries/s per core" in slo_figures.sizing(small_run)


def test_servers_listening_in_one_process_are_named_together():
    with serve(make_app(), name="test-slo-a") as a, serve(make_app(), name="test-slo-b") as b:
        found = slo.listeners({"a": a.port, "b": b.port, "nobody": 1})
    assert found == {"a + b (this kernel)": [os.getpid()]}


def test_servers_are_found_where_the_system_hides_other_processes_sockets(monkeypatch):
    def denied(kind):
        raise slo.psutil.AccessDenied()  # as psutil.net_connections does on macOS, not root

    monkeypatch.setattr(slo.psutil, "net_connections", denied)
    with serve(make_app(), name="test-slo-hidden") as server:
        assert slo.listeners({"a": server.port}) == {"a (this kernel)": [os.getpid()]}


SERVER_WITH_A_WORKER = """
import socket, subprocess, sys, time
server = socket.create_server(("127.0.0.1", 0))
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(server.getsockname()[1], worker.pid, flush=True)
time.sleep(60)
"""


def test_a_servers_workers_in_its_process_group_are_counted_with_it():
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_A_WORKER],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as servers.tether gives nginx
    )
    try:
        port, worker = map(int, server.stdout.readline().split())
        assert slo.listeners({"server": port}) == {"server": sorted([server.pid, worker])}
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_the_report_prints_the_figure_beside_its_target_and_machine(small_run):
    text = slo_figures.report(small_run)
    assert f"p99 {small_run.stats['p99'] * 1000:.1f} ms" in text
    assert "p99 ≤ 250 ms → " + slo.verdict(small_run).word in text
    assert f"{small_run.machine.cores} cores ({small_run.machine.cpu})" in text


def test_the_plot_draws_the_target_and_titles_the_verdict(small_run):
    figure = slo_figures.plot(small_run)
    left, right = figure.axes
    assert slo.verdict(small_run).word in figure.get_suptitle()
    for ax in (left, right):
        assert any(line.get_label() == "target 250 ms" for line in ax.get_lines())
        assert "ms" in ax.get_xlabel() + ax.get_ylabel()
    assert len(right.get_lines()[0].get_xdata()) == len(small_run.buckets)


# --- a mutant service: what it loses and repeats, the run counts -------------------------------


def lossy_app(*, hold: float = 0.0, lossy: bool = True) -> web.Application:
    """A broadcast service with the notify service's routes whose odd clients never get the
    window's 3rd post and whose first client gets its 5th twice: a broken fan-out. With
    ``hold``, it also holds every post that long before it sends it to anyone; with
    ``lossy=False`` it drops and repeats nothing."""
    posts: list[dict] = []
    queues: list[asyncio.Queue] = []

    async def login(request):
        return web.json_response({"token": "any"})

    async def publish(request):
        post = {"id": len(posts) + 1, "text": (await request.json())["text"], "ts": time.time()}
        posts.append(post)
        for queue in queues:
            queue.put_nowait(post)
        return web.json_response(post, status=201)

    async def events(request):
        number, queue = len(queues), asyncio.Queue()
        queues.append(queue)
        since = int(request.headers.get("Last-Event-ID") or 0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for post in [p for p in posts if p["id"] > since]:
            queue.put_nowait(post)
        cursor = since
        while True:
            post = await queue.get()
            if post["id"] <= cursor:
                continue
            cursor = post["id"]
            await asyncio.sleep(max(0.0, post["ts"] + hold - time.time()))
            copies = {"slo 3": number % 2 == 0, "slo 5": 1 + (number == 0)}.get(post["text"], 1)
            copies = copies if lossy else 1
            for _ in range(copies):
                await response.write(f"id: {post['id']}\ndata: {json.dumps(post)}\n\n".encode())

    app = web.Application()
    app.add_routes(
        [
            web.post("/login", login),
            web.post("/channels/broadcast/posts", publish),
            web.get("/channels/broadcast/events", events),
        ]
    )
    return app


def test_a_service_that_drops_and_repeats_posts_is_reported_as_missing_its_slo():
    with serve(lossy_app(), name="test-slo-lossy") as server:
        run = slo.measure(server.url, SMALL, warmup=0.5, window=1.0)
    assert (run.lost, run.duplicates) == (10, 1)  # 10 odd clients lost one, client 0 had 2
    assert run.stats["p99"] < run.objective.target  # fast, yet:
    verdict = slo.verdict(run)
    assert verdict.word == "missed"
    assert "10 posts lost, 1 duplicated" in str(verdict)


def test_a_service_that_holds_each_post_is_measured_at_least_that_late():
    with serve(lossy_app(hold=0.3, lossy=False), name="test-slo-late") as server:
        run = slo.measure(server.url, SMALL, warmup=0.5, window=1.0)
    assert (run.lost, run.duplicates) == (0, 0)
    assert min(run.latencies) >= 0.3 > SMALL.target
    assert slo.verdict(run).word != "met"  # missed, or inconclusive on a saturated machine


def test_posts_late_beyond_a_second_of_silence_are_counted_late_not_lost():
    # nothing arrives for 1.5 s after the window's last post is published: a backend starved
    # on a busy machine; the run used to stop waiting after 1 s and call them all lost
    with serve(lossy_app(hold=2.5, lossy=False), name="test-slo-starved") as server:
        run = slo.measure(server.url, SMALL, warmup=0.5, window=1.0)
    assert (run.lost, run.duplicates) == (0, 0)
    assert len(run.latencies) == run.clients * run.posts
    assert min(run.latencies) >= 2.5


def test_accounting_counts_each_client_s_missing_and_repeated_posts():
    arrivals = [
        [[1, 0.0, 0.1], [2, 0.0, 0.1], [3, 0.0, 0.1]],
        [[1, 0.0, 0.1], [3, 0.0, 0.1]],
        [[1, 0.0, 0.1], [1, 0.0, 0.1], [2, 0.0, 0.1], [3, 0.0, 0.1], [9, 0.0, 0.1]],
    ]
    assert slo.account(arrivals, [1, 2, 3]) == (1, 1)  # post 9 is outside the window


def test_buckets_group_deliveries_by_their_posts_publish_time():
    arrivals = [[[1, 100.1, 100.2], [2, 100.6, 100.61]], [[1, 100.1, 100.4], [2, 100.6, 100.9]]]
    buckets = slo.p99_buckets(arrivals, [1, 2], start=100.0)
    assert [start for start, _ in buckets] == [0.0, 0.5]
    assert buckets[0][1] == pytest.approx(0.3, abs=0.01)
    assert buckets[1][1] == pytest.approx(0.3, abs=0.01)


# --- the verdict, from given numbers ------------------------------------------------------------

QUIET = slo.Machine(cores=2, cpu="test CPU", load_before=0.5, load_after=0.6, busy=0.4)


def given(p99: float = 0.1, **changes) -> slo.SloRun:
    """A run of the default objective whose deliveries have the given p99 (seconds)."""
    base = slo.SloRun(
        objective=slo.Objective(),
        setup="given",
        clients=1000,
        posts=50,
        window=5.0,
        latencies=[p99] * 1000,
        buckets=[(0.0, p99)],
        lost=0,
        duplicates=0,
        reconnects=0,
        client_cpu=0.5,
        machine=QUIET,
        server_cpu={"backend-1": 0.2},
    )
    return dataclasses.replace(base, **changes)


def test_a_p99_within_the_target_is_met():
    assert slo.verdict(given(0.2)).word == "met"


def test_a_p99_over_the_target_on_a_quiet_machine_is_missed():
    verdict = slo.verdict(given(0.3))
    assert verdict.word == "missed"
    assert "p99 300 ms > 250 ms" in str(verdict)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_cpu": 0.97}, "the clients' process used 97% of a core"),
        ({"server_cpu": {"backend-2": 0.95}}, "backend-2 used 95% of a core"),
        ({"machine": dataclasses.replace(QUIET, busy=0.99)}, "99% of all cores were busy"),
        ({"machine": dataclasses.replace(QUIET, load_after=3.1)}, "load average 3.10 on 2"),
    ],
)
def test_a_p99_over_the_target_on_a_saturated_machine_is_inconclusive(changes, reason):
    verdict = slo.verdict(given(0.3, **changes))
    assert verdict.word == "inconclusive"
    assert reason in str(verdict)


def test_a_p99_within_the_target_on_a_saturated_machine_is_met_and_says_so():
    verdict = slo.verdict(given(0.2, client_cpu=0.97))
    assert verdict.word == "met"
    assert "even though the clients' process used 97% of a core" in str(verdict)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"clients": 250}, "only 250 of 1000 clients ran"),
        ({"posts": 20}, "posts went out at 4.0/s, not 10/s"),
        ({"latencies": [0.1] * 50}, "50 deliveries are too few for a p99"),
    ],
)
def test_a_run_that_did_not_test_the_stated_conditions_is_inconclusive(changes, reason):
    verdict = slo.verdict(given(0.1, **changes))
    assert verdict.word == "inconclusive"
    assert reason in str(verdict)


def test_a_lost_or_repeated_post_misses_the_slo_however_fast():
    assert slo.verdict(given(0.01, lost=1)).word == "missed"
    assert slo.verdict(given(0.01, duplicates=1)).word == "missed"


# --- the machine and the sizing estimate --------------------------------------------------------


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 3000\nflags\t: fpu\n")
    assert slo.cpu_model(str(info)) == "Test CPU 3000"
    assert slo.cpu_model(str(tmp_path / "missing"))  # falls back to what platform knows


def test_sizing_is_computed_from_the_backends_measured_cpu():
    cpu = {"b1": 0.1, "b2": 0.1, "nginx": 0.3}
    run = given(0.1, latencies=[0.1] * 50_000, server_cpu=cpu, backends=("b1", "b2"))
    text = slo_figures.sizing(run, clients=100_000)
    # 10 000 deliveries/s on 0.2 cores: 50 000 per core; half a core at 10 posts/s: 2 500
    assert "50,000 deliveries/s per core" in text
    assert "about 2,500 clients" in text
    assert "about 40 backends (20 2-core machines" in text
    # nginx: 0.3 cores for 1000 clients, more than both backends: 30 cores at 100 000
    assert "nginx used 0.30 cores for the same deliveries" in text and "about 30 cores" in text


def test_the_budget_divides_each_parts_cpu_by_the_deliveries():
    busy = dataclasses.replace(QUIET, busy=0.9)
    text = slo_figures.budget(given(0.1, latencies=[0.1] * 50_000, machine=busy))
    # the clients: half a core for 5 s over 50 000 deliveries, 1000 of them per post
    assert "50% of a core:  50.0 µs per delivery,  50.0 ms per post" in text
    assert "together 0.70 of 2 cores; the machine had 1.80 busy, so about 1.10 cores" in text


def test_sizing_says_so_when_no_backend_cpu_was_measured():
    assert "not measured" in slo_figures.sizing(given(0.1, server_cpu={}))
