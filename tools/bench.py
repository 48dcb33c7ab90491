"""`make bench`: the course's speed, each figure beside a reference measured in the same run.

No test asserts a duration; this is where speed is watched. Figures go to a JSON file, plots
to a folder beside it, and a table to stdout:

- ``stop()`` with 50 open streams (and of an idle server, in the JSON), against the promise:
  under a second;
- one GET over a kept-alive connection, against a raw asyncio TCP echo on the same loop;
- a WebSocket round trip over the hand-written echo server (lesson 06), an aiohttp echo
  route, and the feed's ``/ws`` (a post published and pushed back), each against the raw TCP
  echo; the course promises the hand-written echo within 2x;
- an SSE fan-out of posts to 1000 connected clients, p50 and p99, against a reference server
  built on aiohttp-sse the usual way (a queue per client); the promise: p99 no worse;
- idle connections held and the memory each costs, for SSE and WebSocket (lesson 08's round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
from aiohttp import web

from lab import plots
from lab.echo import serve_tcp_echo, serve_ws_echo, tcp_round_trips, ws_round_trips, ws_url
from lab.loadgen import Group, LoadGenerator
from lab.shootout import Transport, loop_cpu_seconds, run_round
from lab.stats import check_delivered_once_in_order, summarize
from lab.streams import open_streams, read_to_end
from servers import runtime, serve
from servers.clock import make_clock_app
from servers.feed import Feed, make_app
from servers.rfc6455 import serve_echo
from servers.timing import wait_until

FANOUT_CLIENTS = 1000
FANOUT_POSTS = 10


def time_stop(streams: int) -> float:
    server = serve(make_clock_app(interval=0.05))
    sockets = open_streams(server.host, server.port, "/time", streams) if streams else []
    started = time.perf_counter()
    server.stop()
    elapsed = time.perf_counter() - started
    for sock in sockets:
        read_to_end(sock)
    return elapsed


def get_round_trips(count: int) -> list[float]:
    feed = Feed()
    feed.publish("bench")
    with serve(make_app(feed)) as server, httpx.Client() as client:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            client.get(server.url + "/posts?since=1")
            samples.append(time.perf_counter() - started)
        return samples


async def feed_ws_round_trips(url: str, count: int) -> list[float]:
    """Publish over the feed's ``/ws`` and wait for the post to come back on the same socket."""
    from websockets.asyncio.client import connect

    samples = []
    async with connect(url, compression=None, ping_interval=None) as ws:
        for n in range(200 + count):
            started = time.perf_counter()
            await ws.send(json.dumps({"text": f"rtt {n}"}))
            if json.loads(await ws.recv())["text"] != f"rtt {n}":
                raise AssertionError("/ws pushed back another post")
            samples.append(time.perf_counter() - started)
    return samples[200:]


def round_trips(count: int) -> dict[str, list[float]]:
    """Round trips of a 32-byte message over each echo, all on the same background loop."""
    with (
        serve_tcp_echo(name="bench-tcp") as tcp,
        serve_echo(name="bench-rfc6455") as by_hand,
        serve_ws_echo(name="bench-aiohttp-ws") as library,
        serve(make_app(Feed()), name="bench-feed") as feed_server,
    ):
        return {
            "raw TCP echo": asyncio.run(tcp_round_trips(tcp.host, tcp.port, count)),
            "hand-written WebSocket echo": asyncio.run(ws_round_trips(by_hand.url, count)),
            "aiohttp WebSocket echo": asyncio.run(ws_round_trips(ws_url(library), count)),
            "feed /ws publish and push": asyncio.run(
                feed_ws_round_trips(ws_url(feed_server, "/ws"), count)
            ),
        }


def make_reference_sse_app() -> tuple[web.Application, set, callable]:
    """The usual aiohttp-sse fan-out: a queue per client, one loop wake-up per post.

    Returns the app, the set of client queues, and ``publish(text)`` for any thread.
    """
    from aiohttp_sse import sse_response

    queues: set[asyncio.Queue] = set()
    next_id = iter(range(1, 1 << 62))

    async def events(request: web.Request) -> web.StreamResponse:
        queue: asyncio.Queue = asyncio.Queue()
        queues.add(queue)
        try:
            async with sse_response(request) as response:
                while True:
                    post = await queue.get()
                    await response.send(json.dumps(post), id=str(post["id"]))
        finally:
            queues.discard(queue)

    def broadcast(post: dict) -> None:
        for queue in queues:
            queue.put_nowait(post)

    def publish(text: str) -> dict:
        post = {"id": next(next_id), "text": text, "ts": time.time()}
        runtime.loop().call_soon_threadsafe(broadcast, post)
        return post

    app = web.Application()
    app.router.add_get("/events", events)
    return app, queues, publish


def fan_out(url: str, parked, publish) -> tuple[list[float], float]:
    """Latencies of ``FANOUT_POSTS`` posts, 0.2 s apart, to ``FANOUT_CLIENTS`` SSE clients,
    and the server loop's CPU seconds per post."""
    with LoadGenerator(url, [Group("sse", "sse", FANOUT_CLIENTS)]) as load:
        wait_until(lambda: parked() >= FANOUT_CLIENTS, 60, "every SSE client connected")
        ids, cpu_before = [], loop_cpu_seconds()
        for n in range(FANOUT_POSTS):
            time.sleep(0.2)
            ids.append(publish(f"fan-out {n}")["id"])
        time.sleep(1.0)
        cpu = (loop_cpu_seconds() - cpu_before) / FANOUT_POSTS
    check_delivered_once_in_order(load.results["sse"].received_ids(), ids)
    return load.results["sse"].latencies(), cpu


def fan_outs() -> tuple[dict[str, list[float]], dict[str, float]]:
    """The course's ``/events`` and the reference, twice each in turn (A B A B), so
    the second runs first once; latencies pooled, CPU per post averaged."""
    latencies: dict[str, list[float]] = {"course /events": [], "aiohttp-sse reference": []}
    cpu: dict[str, list[float]] = {name: [] for name in latencies}
    for name in ["course /events", "aiohttp-sse reference"] * 2:
        if name == "course /events":
            feed = Feed()
            with serve(make_app(feed), name="bench-sse-course") as server:
                values, per_post = fan_out(server.url, lambda f=feed: f.waiting, feed.publish)
        else:
            app, queues, publish = make_reference_sse_app()
            with serve(app, name="bench-sse-reference") as server:
                values, per_post = fan_out(server.url, lambda q=queues: len(q), publish)
        latencies[name] += values
        cpu[name].append(per_post)
    return latencies, {name: statistics.mean(values) for name, values in cpu.items()}


def memory_per_connection() -> dict[str, float]:
    """Python memory per idle connection, 1000 held, for SSE and WebSocket (lesson 08)."""
    feed = Feed()
    result = {}
    with serve(make_app(feed), name="bench-memory") as server:
        for kind, name in [("sse", "SSE"), ("ws", "WebSocket")]:
            held = run_round(
                feed, server.url, Transport(name, kind), 1000, rate=2, window=0.5, memory=True
            )
            result[name] = held.memory_per_client
    return result


def plot(samples: dict[str, list[float]], title: str, path: Path) -> None:
    fig, ax = plots.figure(title)
    for color, (label, values) in zip(plots.SEQUENCE, samples.items(), strict=False):
        plots.ecdf(ax, values, scale=1000, label=label, color=color)
    ax.set_xscale("log")
    plots.label(ax, "milliseconds (log scale)", "fraction of samples at or below")
    ax.legend(fontsize=8)
    plots.finish(fig)
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=2000)
    args = parser.parse_args(argv)
    plot_dir = args.out.parent / "bench"
    plot_dir.mkdir(parents=True, exist_ok=True)

    print("stop() and GET ...", flush=True)
    stop_idle = statistics.median(time_stop(0) for _ in range(args.repeat))
    stop_busy = statistics.median(time_stop(50) for _ in range(args.repeat))
    get_p50 = statistics.median(get_round_trips(500))
    print("round trips ...", flush=True)
    rtts = round_trips(args.round_trips)
    print(f"fan-out to {FANOUT_CLIENTS} SSE clients ...", flush=True)
    fans, fan_cpu = fan_outs()
    print("memory per connection ...", flush=True)
    memory = memory_per_connection()

    rtt = {name: summarize(values) for name, values in rtts.items()}
    fan = {name: summarize(values) for name, values in fans.items()}
    tcp = rtt["raw TCP echo"]["p50"]
    figures = {
        "stop_idle_s": stop_idle,
        "stop_50_streams_s": stop_busy,
        "shutdown_grace_s": runtime.SHUTDOWN_GRACE,
        "get_round_trip_p50_s": get_p50,
        "round_trips_s": rtt,
        "round_trip_p50_ratio_to_tcp": {name: s["p50"] / tcp for name, s in rtt.items()},
        "sse_fan_out_s": fan,
        "sse_fan_out_loop_cpu_per_post_s": fan_cpu,
        "memory_per_connection_bytes": memory,
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    plot(rtts, "Round trips: each WebSocket echo against raw TCP", plot_dir / "round_trips.png")
    plot(fans, f"One post to {FANOUT_CLIENTS} SSE clients: course vs aiohttp-sse",
         plot_dir / "sse_fan_out.png")  # fmt: skip

    ours, theirs = fan["course /events"], fan["aiohttp-sse reference"]
    rows = [
        ("stop() with 50 streams", stop_busy, "the 1 s promise", 1.0),
        ("GET round trip p50", get_p50, "TCP echo p50", tcp),
        *[(f"{name} p50", s["p50"], "TCP echo p50", tcp) for name, s in rtt.items()][1:],
        ("SSE fan-out p50", ours["p50"], "aiohttp-sse p50", theirs["p50"]),
        ("SSE fan-out p99", ours["p99"], "aiohttp-sse p99", theirs["p99"]),
        (
            "SSE fan-out: server CPU per post",
            fan_cpu["course /events"],
            "aiohttp-sse",
            fan_cpu["aiohttp-sse reference"],
        ),
    ]
    print(f"\n{'measure':<40}{'value':>11}  {'reference':<16}{'ref.':>11}{'ratio':>8}")
    for label, value, reference, ref_value in rows:
        print(
            f"{label:<40}{value * 1000:>9.3f}ms  {reference:<16}{ref_value * 1000:>9.3f}ms"
            f"{value / ref_value:>8.2f}"
        )
    for name, per in memory.items():
        print(f"{name}: 1000 idle connections held, {per / 1024:.1f} KiB of Python memory each")
    verdicts = [
        ("stop() with 50 streams under 1 s", stop_busy < 1),
        ("hand-written WebSocket echo within 2x of TCP",
         rtt["hand-written WebSocket echo"]["p50"] < 2 * tcp),
        ("SSE fan-out p99 no worse than aiohttp-sse", ours["p99"] <= theirs["p99"]),
    ]  # fmt: skip
    for claim, holds in verdicts:
        print(f"{claim}: {'yes' if holds else 'NO'}")
    print(f"figures written to {args.out}, plots to {plot_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
