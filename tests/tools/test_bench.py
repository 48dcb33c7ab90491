"""tools/bench.py: the aiohttp-sse reference serves what the course's SSE clients read, the
round trips alternate the echoes round by round, and the parser benchmark times two parsers
that read the same events."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import bench
import pytest

from lab.clients import ClientLog, sse_listen, ws_listen
from servers import runtime, serve
from servers.timing import scaled, wait_until


def on_server_loop(action):
    """Run ``action()`` on the servers' loop (where a transport may be written) and wait."""

    async def run():
        action()

    runtime.run(run())


@pytest.mark.parametrize(
    ("make_reference", "listen"),
    [(bench.make_reference_sse_app, sse_listen), (bench.make_reference_ws_app, ws_listen)],
    ids=["aiohttp-sse", "aiohttp WebSocket broadcast"],
)
def test_the_reference_fans_each_post_out_to_every_client_once(make_reference, listen):
    app, held, publish = make_reference()

    async def scenario(url):
        stop, logs = asyncio.Event(), [ClientLog() for _ in range(3)]
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.ensure_future(listen(session, url, stop=stop, log=log))
                     for log in logs]  # fmt: skip
            await asyncio.to_thread(wait_until, lambda: len(held) == 3)
            ids = [publish(text)["id"] for text in "ab"]
            await asyncio.to_thread(wait_until, lambda: all(log.last_id == 2 for log in logs))
            stop.set()
            await asyncio.gather(*tasks)
        return [[i for i, _, _ in log.arrivals] for log in logs], ids

    with serve(app, name="test-bench-reference") as server:
        received, ids = asyncio.run(scenario(server.url))
    assert ids == [1, 2] and received == [[1, 2]] * 3


def test_parser_throughput_reads_the_same_events_with_both_parsers_in_every_round():
    stream = bench.sse_stream(60)  # a heartbeat after post 49: httpx-sse's extra blank event
    assert bench.read_with_course_parser([stream]) == [
        json.dumps({"id": n, "text": f"post number {n}", "ts": 1733000000.0 + n})
        for n in range(60)
    ]
    speeds = bench.parser_throughput(stream + b"data: split\r\n\r\n", chunk=7, rounds=3)
    assert set(speeds) == {"course EventParser", "httpx-sse"}
    assert all(len(v) == 3 and all(0 < mb < float("inf") for mb in v) for v in speeds.values())


def test_parser_throughput_refuses_a_parser_that_reads_other_events(monkeypatch):
    drops_the_last = lambda chunks: bench.read_with_course_parser(chunks)[:-1]  # noqa: E731
    monkeypatch.setitem(bench.PARSERS, "course EventParser", drops_the_last)
    with pytest.raises(AssertionError, match="read different events"):
        bench.parser_throughput(bench.sse_stream(3), chunk=5, rounds=1)


def test_time_stop_stops_a_server_holding_endless_streams_and_leaves_nothing_running():
    from servers import runtime

    before = runtime.running_servers()
    elapsed = bench.time_stop(3)  # the streams never end: it returns only if stop() ends them
    assert isinstance(elapsed, float) and elapsed >= 0
    assert runtime.running_servers() == before


def test_get_round_trips_times_one_get_per_sample():
    samples = bench.get_round_trips(4)
    assert len(samples) == 4 and all(s > 0 for s in samples)


def test_round_trips_alternate_every_echo_against_the_tcp_floor_in_rounds_of_equal_size():
    from servers import runtime

    before = runtime.running_servers()
    compared = bench.round_trips(6, rounds=3)
    assert compared.names == [
        "raw TCP echo",
        "hand-written WebSocket echo",
        "aiohttp WebSocket echo",
        "feed /ws publish and push",
    ]
    assert compared.floor == "raw TCP echo"
    for name in compared.names:
        assert [len(one_round) for one_round in compared.rounds[name]] == [2, 2, 2]
        assert all(v > 0 for v in compared.samples(name))
    assert len(compared.gap("feed /ws publish and push").per_round) == 3
    assert runtime.running_servers() == before


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("sse", {"course /events", "aiohttp-sse reference"}),
        ("ws", {"course /ws", "aiohttp WebSocket broadcast"}),
    ],
)
def test_fan_outs_run_each_server_twice_and_pool_every_clients_latency(monkeypatch, kind, names):
    monkeypatch.setattr(bench, "FANOUT_POSTS", 1)
    monkeypatch.setattr(bench, "FANOUT_SPACING", 0.01)
    latencies, cpu = bench.fan_outs(2, kind)
    floor = {bench.FLOOR} if kind == "ws" else set()  # the bare writes, in the reference's rounds
    assert set(latencies) == names and set(cpu) == names | floor
    assert all(len(values) == 2 * 2 * 1 for values in latencies.values())  # rounds × clients
    assert all(value >= 0 for value in cpu.values())


def test_bare_writes_send_every_reference_socket_one_pong_as_long_as_a_post_and_no_message():
    app, held, _ = bench.make_reference_ws_app()

    async def scenario(url, run_on_server_loop):
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(url + "/ws", autoping=False) for _ in range(2)]
            await asyncio.to_thread(wait_until, lambda: len(held) == 2)
            await asyncio.to_thread(run_on_server_loop, lambda: bench.bare_writes(held))
            frames = [await ws.receive(timeout=scaled(5)) for ws in sockets]
            for ws in sockets:
                await ws.close()
        return frames

    with serve(app, name="test-bench-bare-writes") as server:
        frames = asyncio.run(scenario(server.url, on_server_loop))
    assert [frame.type for frame in frames] == [aiohttp.WSMsgType.PONG] * 2
    post = {"id": 10, "text": "fan-out 9", "ts": time.time()}
    assert abs(len(frames[0].data) - len(json.dumps(post))) <= 2  # as long as a post (ts varies)


def test_slow_consumer_rounds_alternate_rounds_without_and_with_stalled_clients(monkeypatch):
    from servers import runtime

    for name, value in [("SLOW_FAST_CLIENTS", 2), ("SLOW_STALLED", 2), ("SLOW_POSTS", 300)]:
        monkeypatch.setattr(bench, name, value)
    monkeypatch.setattr(bench, "SLOW_SPACING", 0.001)
    opened = []
    stall = bench.stalled_client
    monkeypatch.setattr(bench, "stalled_client", lambda *a: opened.append(stall(*a)) or opened[-1])
    before = runtime.running_servers()
    latencies, let_go = bench.slow_consumer_rounds(rounds=2)
    assert let_go == 2  # 300 posts of 900 characters fill a stalled client's buffers
    assert {name: len(v) for name, v in latencies.items()} == {
        "without stalled clients": 2 * 300,  # fast clients × posts, one round each
        "with stalled clients": 2 * 300,
    }
    assert len(opened) == 2 and all(sock.fileno() == -1 for sock in opened)  # closed after
    assert runtime.running_servers() == before


def test_the_plot_draws_one_ecdf_per_series_in_milliseconds_and_saves_a_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "rtt.png"
    bench.plot({"a": [0.001, 0.002], "b": [0.003, 0.004, 0.005]}, "the finding", path)
    fig = plt.figure(plt.get_fignums()[-1])
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert list(ax.get_lines()[0].get_xdata()) == pytest.approx([1.0, 2.0])  # ms
    assert ax.get_xscale() == "log" and "milliseconds" in ax.get_xlabel()
    assert fig.get_suptitle() == "the finding"
    assert path.read_bytes().startswith(b"\x89PNG")
    plt.close("all")
