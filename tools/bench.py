"""`make bench`: the course's speed, each figure beside a reference measured in the same run.

No test asserts a duration; this is where speed is watched. Figures go to a JSON file, plots
to a folder beside it, and a table to stdout:

- ``stop()`` with 50 open streams (and of an idle server, in the JSON), against the promise:
  under a second;
- one GET over a kept-alive connection, against a raw asyncio TCP echo on the same loop;
- a WebSocket round trip over the hand-written echo server (lesson 06), an aiohttp echo
  route, and the feed's ``/ws`` (a post published and pushed back), each against the raw TCP
  echo in alternated rounds (``lab.roundtrips.alternate``), with the per-round gaps; the course
  promises the hand-written echo within 2x;
- an SSE fan-out of posts to 1000 connected clients, p50 and p99 and the server's CPU per
  post, against a reference server built on aiohttp-sse the usual way (a queue per client);
  the same for WebSockets against an aiohttp broadcast loop awaiting each socket in turn,
  with the floor beside them (the CPU of one bare ``transport.write`` per socket, measured in
  the reference's rounds); lesson 11's target: at most 0.5x the reference's p99 and CPU per
  post, rounds alternated;
- slow consumers: 20 fast SSE clients' p99 with 20 stalled clients beside them (raw sockets
  that never read) over their p99 without, rounds alternated in one run; the promise: 2x;
- idle connections held and the memory each costs, for SSE and WebSocket (lesson 08's round);
- the SSE parser's throughput (MB/s), against httpx-sse's decoder on the same bytes in the same
  chunks, rounds alternated: in 64 KiB reads, and the whole stream in one chunk (a parser whose
  cost grows with the square of a chunk shows there).

It raises its open-file limit first (``servers.limits``); where the hard limit cannot hold
``FANOUT_CLIENTS`` clients, it runs as many as fit and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
from aiohttp import web

from lab import plots
from lab.echo import (
    feed_exchange,
    serve_tcp_echo,
    serve_ws_echo,
    tcp_exchange,
    ws_exchange,
    ws_url,
)
from lab.fast_readers import FastReaders
from lab.loadgen import SOCKETS_PER_CLIENT, Group, LoadGenerator
from lab.roundtrips import Comparison, alternate
from lab.shootout import Transport, loop_cpu_seconds, run_round
from lab.slow_sockets import closed_by_server, stalled_client
from lab.stats import check_delivered_once_in_order, summarize
from lab.streams import open_streams, read_to_end
from servers import runtime, serve
from servers.clock import make_clock_app
from servers.feed import Feed, make_app
from servers.limits import affordable, open_file_limit, raise_open_file_limit
from servers.rfc6455 import serve_echo
from servers.rfc6455.codec import PONG, encode_frame
from servers.sse import EventParser, encode_comment, encode_event
from servers.stalls import STALLS
from servers.timing import wait_until

FANOUT_CLIENTS = 1000
FANOUT_POSTS = 10
FANOUT_SPACING = 0.3
"""Seconds between two fan-out posts: one post's deliveries to a thousand clients end before
the next."""


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


def round_trips(count: int, rounds: int = 10) -> Comparison:
    """Round trips of a 32-byte message over each echo, the raw TCP echo first (the floor):
    ``rounds`` alternated rounds of ``count // rounds`` each, every connection open throughout
    and warmed up first (``lab.roundtrips.alternate``); the servers on the background loop."""
    with (
        serve_tcp_echo(name="bench-tcp") as tcp,
        serve_echo(name="bench-rfc6455") as by_hand,
        serve_ws_echo(name="bench-aiohttp-ws") as library,
        # publish_rate=None: thousands of messages a second up one socket (lesson 12's limit)
        serve(make_app(Feed(), publish_rate=None), name="bench-feed") as feed_server,
    ):
        echoes = {
            "raw TCP echo": tcp_exchange(tcp.host, tcp.port),
            "hand-written WebSocket echo": ws_exchange(by_hand.url),
            "aiohttp WebSocket echo": ws_exchange(ws_url(library)),
            "feed /ws publish and push": feed_exchange(ws_url(feed_server, "/ws")),
        }
        return asyncio.run(alternate(echoes, rounds=rounds, per_round=count // rounds))


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


def make_reference_ws_app() -> tuple[web.Application, dict, callable]:
    """The usual aiohttp WebSocket broadcast: a set of sockets, and per post a loop that
    awaits ``send_str`` on each in turn (aiohttp's own examples broadcast this way).

    Returns the app, the open sockets (each with its transport, for ``bare_writes``), and
    ``publish(text)`` for any thread.
    """
    sockets: dict[web.WebSocketResponse, asyncio.Transport] = {}  # and each one's transport
    next_id = iter(range(1, 1 << 62))

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sockets[socket] = request.transport
        try:
            async for _ in socket:
                pass
        finally:
            sockets.pop(socket, None)
        return socket

    async def broadcast(post: dict) -> None:
        message = json.dumps(post)
        for socket in list(sockets):
            await socket.send_str(message)

    def publish(text: str) -> dict:
        post = {"id": next(next_id), "text": text, "ts": time.time()}
        asyncio.run_coroutine_threadsafe(broadcast(post), runtime.loop())
        return post

    app = web.Application()
    app.router.add_get("/ws", ws)
    return app, sockets, publish


def fan_out(
    url: str, parked, publish, clients: int, kind: str = "sse", floor=None
) -> tuple[list[float], float, float | None]:
    """Latencies of ``FANOUT_POSTS`` posts, ``FANOUT_SPACING`` apart, to ``clients`` clients
    of ``kind`` ("sse" or "ws") that only read while the posts come (``lab.fast_readers``:
    so the figure is the server's, not the clients' parsing), and the server loop's CPU
    seconds per post. With ``floor`` (a function for the loop that writes one frame to every
    client), also the loop's CPU seconds per call of it (else None): one call half-way after
    each post, so that its writes reach each connection at the same stage as the posts' (a
    receiver acknowledges a new connection's first segments at once, in the sender's CPU on
    loopback), and its CPU taken out of the posts'."""
    with FastReaders(url, kind, clients) as readers:
        wait_until(lambda: parked() >= clients, 60, f"every {kind} client connected")
        ids, cpu_before, floor_spent = [], loop_cpu_seconds(), 0.0
        for n in range(FANOUT_POSTS):
            time.sleep(FANOUT_SPACING / 2)
            if floor is not None and n:
                floor_spent += cpu_of(floor)
            time.sleep(FANOUT_SPACING / 2)
            ids.append(publish(f"fan-out {n}")["id"])
        if floor is not None:
            time.sleep(FANOUT_SPACING / 2)
            floor_spent += cpu_of(floor)
        time.sleep(1.0)
        cpu = (loop_cpu_seconds() - cpu_before - floor_spent) / FANOUT_POSTS
        readers.expect(ids[-1])
    check_delivered_once_in_order(readers.received_ids(), ids)  # the floor's frames are no post
    return readers.latencies(), cpu, None if floor is None else floor_spent / FANOUT_POSTS


def cpu_of(action) -> float:
    """The servers' loop thread's CPU seconds for one call of ``action`` (run on the loop)."""

    async def timed() -> float:
        started = time.thread_time()
        action()
        return time.thread_time() - started

    return runtime.run(timed())


BARE_POST = {"id": 10, "text": "fan-out 9", "ts": 1733000000.2305636}
BARE_FRAME = encode_frame(PONG, json.dumps(BARE_POST).encode())
"""What ``bare_writes`` sends: an unsolicited pong (RFC 6455 section 5.5.3: no answer is
expected, and a client takes it for no message) as long as a fan-out post's text frame."""


def bare_writes(sockets: dict) -> None:
    """One ``transport.write(BARE_FRAME)`` per socket of ``make_reference_ws_app``'s, nothing
    else: the floor any WebSocket fan-out on this loop pays per post (a send system call per
    client, and on loopback the kernel's delivery to the reader, charged to the sender)."""
    for transport in list(sockets.values()):
        transport.write(BARE_FRAME)


FAN_OUTS = {
    "sse": ("course /events", "aiohttp-sse reference", make_reference_sse_app),
    "ws": ("course /ws", "aiohttp WebSocket broadcast", make_reference_ws_app),
}
"""Per client kind: the course's route, its reference's name, and the reference's maker."""

FLOOR = "bare writes to every socket"
"""The WebSocket fan-out's third figure: ``bare_writes``' CPU, measured in the reference's
rounds between its posts (``fan_out``), what no fan-out with one write per client can go
below."""


def fan_outs(clients: int, kind: str = "sse") -> tuple[dict[str, list[float]], dict[str, float]]:
    """The course's ``/events`` (or ``/ws``) and its reference, twice each in turn (A B A B),
    so the second runs first once; latencies pooled, CPU per post averaged. For WebSockets the
    CPU also holds ``FLOOR``: ``bare_writes`` to the reference's readers in its rounds."""
    ours, reference, make_reference = FAN_OUTS[kind]
    latencies: dict[str, list[float]] = {ours: [], reference: []}
    cpu: dict[str, list[float]] = {name: [] for name in latencies}
    if kind == "ws":
        cpu[FLOOR] = []
    for name in [ours, reference] * 2:
        if name == ours:
            feed = Feed()
            with serve(make_app(feed), name="bench-fan-out-course") as server:
                values, per_post, _ = fan_out(
                    server.url, lambda f=feed: f.waiting, feed.publish, clients, kind
                )
        else:
            app, held, publish = make_reference()
            floor = (lambda h=held: bare_writes(h)) if kind == "ws" else None
            with serve(app, name="bench-fan-out-reference") as server:
                values, per_post, per_floor = fan_out(
                    server.url, lambda h=held: len(h), publish, clients, kind, floor
                )
            if floor is not None:
                cpu[FLOOR].append(per_floor)
        latencies[name] += values
        cpu[name].append(per_post)
    for name, rounds in cpu.items():  # one noisy round weighs half of a mean of two
        print(f"  {name}: CPU per post by round, ms: {[round(v * 1000, 2) for v in rounds]}")
    return latencies, {name: statistics.mean(values) for name, values in cpu.items()}


SLOW_FAST_CLIENTS = 20
SLOW_STALLED = 20
SLOW_POSTS = 600
"""Posts of 900 characters per round: 540 KB, more than twice what a stalled client's buffers
absorb (about 0.2 MB with the feed's bounded send buffer, ``servers.stalls``), so the stalled
ones stall early and are let go while the fast ones read on (fewer, and the stalled clients
are only more clients)."""
SLOW_SPACING = 0.01
SLOW_TEXT = "x" * 900


def slow_consumer_rounds(rounds: int = 4) -> tuple[dict[str, list[float]], int]:
    """The fast clients' latencies with and without stalled ones, rounds alternated.

    Each round serves a fresh feed (``write_timeout`` 2 s) to ``SLOW_FAST_CLIENTS`` SSE
    readers in a separate process and publishes ``SLOW_POSTS`` posts of 900 characters,
    ``SLOW_SPACING`` apart; every other round also holds ``SLOW_STALLED`` stalled clients
    (half SSE, half WebSocket: raw sockets that send their request and never read).
    Latencies pooled per kind of round, and how many stalled clients the server let go;
    every fast client must get every post in order."""
    latencies: dict[str, list[float]] = {"without stalled clients": [], "with stalled clients": []}
    let_go = 0
    for n in range(rounds):
        with_stalled = n % 2 == 1
        feed = Feed()
        app = make_app(feed, write_timeout=2.0)
        with serve(app, name="bench-slow") as server:
            with LoadGenerator(server.url, [Group("fast", "sse", SLOW_FAST_CLIENTS)]) as load:
                kinds = ["sse", "ws"] * (SLOW_STALLED // 2) if with_stalled else []
                stalled = [stalled_client(server.port, kind) for kind in kinds]
                everyone = SLOW_FAST_CLIENTS + len(kinds)
                wait_until(lambda f=feed, n=everyone: f.waiting >= n, 60,
                           "the fast and stalled clients connected")  # fmt: skip
                ids = []
                for _ in range(SLOW_POSTS):
                    time.sleep(SLOW_SPACING)
                    ids.append(feed.publish(SLOW_TEXT)["id"])
                every_post = SLOW_FAST_CLIENTS * SLOW_POSTS
                wait_until(lambda g=load, n=every_post: g.mark()["fast"]["deliveries"] >= n,
                           60, "every fast client's posts")  # fmt: skip
            if with_stalled:  # every stalled client is let go (a liveness bound, not a speed)
                wait_until(lambda s=stalled: all(map(closed_by_server, s)), 2.0 + 10,
                           "the server to let every stalled client go")  # fmt: skip
                let_go += app[STALLS].let_go_count
            for sock in stalled:
                sock.close()
        check_delivered_once_in_order(load.results["fast"].received_ids(), ids)
        name = "with stalled clients" if with_stalled else "without stalled clients"
        latencies[name] += load.results["fast"].latencies()
    return latencies, let_go


def memory_per_connection(clients: int) -> dict[str, float]:
    """Python memory per idle connection, ``clients`` held, for SSE and WebSocket (lesson 08)."""
    feed = Feed()
    result = {}
    with serve(make_app(feed), name="bench-memory") as server:
        for kind, name in [("sse", "SSE"), ("ws", "WebSocket")]:
            held = run_round(
                feed, server.url, Transport(name, kind), clients, rate=2, window=0.5, memory=True
            )
            result[name] = held.memory_per_client
    return result


def sse_stream(events: int) -> bytes:
    """What the feed's ``/events`` sends: posts with ids and JSON data, a heartbeat every 50."""
    parts = []
    for n in range(events):
        post = {"id": n, "text": f"post number {n}", "ts": 1733000000.0 + n}
        parts.append(encode_event(json.dumps(post), id=n))
        if n % 50 == 49:
            parts.append(encode_comment("heartbeat"))
    return b"".join(parts)


def read_with_course_parser(chunks: list[bytes]) -> list[str]:
    parser, data = EventParser(), []
    for chunk in chunks:
        data += [event.data for event in parser.feed(chunk)]
    return data


def read_with_httpx_sse(chunks: list[bytes]) -> list[str]:
    """httpx-sse's decoding as ``EventSource.iter_sse`` does it: bytes to text incrementally
    (as httpx's ``iter_text``), text to lines, lines to events. It also hands over a blank
    line after an id with no data, which a browser does not dispatch: those are left out."""
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    text = codecs.getincrementaldecoder("utf-8")("replace")
    lines, decoder = SSELineDecoder(), SSEDecoder()
    data = []
    for chunk in chunks:
        for line in lines.decode(text.decode(chunk)):
            event = decoder.decode(line)
            if event is not None and event.data:
                data.append(event.data)
    return data


PARSERS = {"course EventParser": read_with_course_parser, "httpx-sse": read_with_httpx_sse}


def parser_throughput(stream: bytes, chunk: int, rounds: int) -> dict[str, list[float]]:
    """MB/s of each parser in ``PARSERS`` reading ``stream`` in ``chunk``-byte reads, one
    figure per round, the order alternated round by round (so neither always runs warm).
    ``AssertionError`` if they did not read the same events."""
    chunks = [stream[k : k + chunk] for k in range(0, len(stream), chunk)]
    speeds: dict[str, list[float]] = {name: [] for name in PARSERS}
    for round_number in range(rounds):
        order = list(PARSERS) if round_number % 2 == 0 else list(PARSERS)[::-1]
        read = {}
        for name in order:
            started = time.perf_counter()
            read[name] = PARSERS[name](chunks)
            speeds[name].append(len(stream) / 1e6 / (time.perf_counter() - started))
        if len({tuple(events) for events in read.values()}) != 1:
            raise AssertionError(f"the parsers read different events from the same bytes: "
                                 f"{ {name: len(events) for name, events in read.items()} }")
    return speeds


def fan_out_rows(label: str, short: str, figures: dict, cpu: dict, names: tuple) -> list:
    """The table's rows for one fan-out: p50, p99 and CPU per post, the course's beside its
    reference's (``names``: an entry of ``FAN_OUTS``)."""
    ours, reference = names[0], names[1]
    return [
        *[(f"{label} fan-out {q}", figures[ours][q], f"{short} {q}", figures[reference][q])
          for q in ("p50", "p99")],
        (f"{label} fan-out: server CPU per post", cpu[ours], short, cpu[reference]),
    ]  # fmt: skip


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
    raise_open_file_limit()
    clients = affordable(FANOUT_CLIENTS, SOCKETS_PER_CLIENT)
    soft, hard = open_file_limit()
    print(f"open-file limit: {soft} (hard {hard})", flush=True)
    if clients < FANOUT_CLIENTS:
        print(f"  too low for {FANOUT_CLIENTS} clients ({SOCKETS_PER_CLIENT} files each): the "
              f"fan-out and memory rounds use {clients}; raise the hard limit to run them all")

    print("SSE parser throughput ...", flush=True)
    stream = sse_stream(30_000)
    parsing = {
        f"{kb} KiB reads" if kb else "one chunk": parser_throughput(
            stream, kb * 1024 or len(stream), args.repeat
        )
        for kb in (64, 0)
    }

    print("stop() and GET ...", flush=True)
    stop_idle = statistics.median(time_stop(0) for _ in range(args.repeat))
    stop_busy = statistics.median(time_stop(50) for _ in range(args.repeat))
    get_p50 = statistics.median(get_round_trips(500))
    print("round trips ...", flush=True)
    compared = round_trips(args.round_trips)
    rtts = {name: compared.samples(name) for name in compared.names}
    print(f"fan-out to {clients} SSE clients ...", flush=True)
    fans, fan_cpu = fan_outs(clients)
    print(f"fan-out to {clients} WebSocket clients ...", flush=True)
    ws_fans, ws_fan_cpu = fan_outs(clients, "ws")
    print("slow consumers ...", flush=True)
    slow, let_go = slow_consumer_rounds()
    print("memory per connection ...", flush=True)
    memory = memory_per_connection(clients)

    rtt = {name: summarize(values) for name, values in rtts.items()}
    fan = {name: summarize(values) for name, values in fans.items()}
    ws_fan = {name: summarize(values) for name, values in ws_fans.items()}
    slow_fan = {name: summarize(values) for name, values in slow.items()}
    slow_ratio = (
        slow_fan["with stalled clients"]["p99"] / slow_fan["without stalled clients"]["p99"]
    )
    tcp = rtt["raw TCP echo"]["p50"]
    ws_floor_ratio = ws_fan_cpu[FLOOR] / ws_fan_cpu[FAN_OUTS["ws"][1]]
    figures = {
        "open_file_limit": {"soft": soft, "hard": hard, "clients": clients,
                            "clients_wanted": FANOUT_CLIENTS},
        "sse_parser_stream_bytes": len(stream),
        "sse_parser_mb_per_s": {
            reads: {name: {"median": statistics.median(v), "rounds": v} for name, v in s.items()}
            for reads, s in parsing.items()
        },
        "stop_idle_s": stop_idle,
        "stop_50_streams_s": stop_busy,
        "shutdown_grace_s": runtime.SHUTDOWN_GRACE,
        "get_round_trip_p50_s": get_p50,
        "round_trips_s": rtt,
        "round_trip_p50_ratio_to_tcp": {name: s["p50"] / tcp for name, s in rtt.items()},
        "round_trip_p50_gap_to_tcp_s": {
            name: {"pooled": gap.pooled, "per_round": gap.per_round, "verdict": gap.verdict}
            for name in compared.names[1:]
            for gap in [compared.gap(name)]
        },
        "sse_fan_out_s": fan,
        "sse_fan_out_loop_cpu_per_post_s": fan_cpu,
        "ws_fan_out_s": ws_fan,
        "ws_fan_out_loop_cpu_per_post_s": ws_fan_cpu,
        "fan_out_ratios_to_reference": {
            kind: {
                "p99": figures[FAN_OUTS[kind][0]]["p99"] / figures[FAN_OUTS[kind][1]]["p99"],
                "cpu_per_post": cpus[FAN_OUTS[kind][0]] / cpus[FAN_OUTS[kind][1]],
            }
            for kind, figures, cpus in [("sse", fan, fan_cpu), ("ws", ws_fan, ws_fan_cpu)]
        },
        "ws_fan_out_floor_cpu_ratio_to_reference": ws_floor_ratio,
        "slow_consumers_fast_clients_s": slow_fan,
        "slow_consumers_p99_ratio_with_to_without_stalled": slow_ratio,
        "slow_consumers_let_go": {"stalled": SLOW_STALLED * 2, "let_go": let_go},
        "memory_per_connection_bytes": memory,
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    plot(rtts, "Round trips: each WebSocket echo against raw TCP", plot_dir / "round_trips.png")
    plot(fans, f"One post to {clients} SSE clients: course vs aiohttp-sse",
         plot_dir / "sse_fan_out.png")  # fmt: skip
    plot(ws_fans, f"One post to {clients} WebSocket clients: course vs aiohttp broadcast",
         plot_dir / "ws_fan_out.png")  # fmt: skip
    plot(slow, "Fast SSE clients' latency, with and without 20 stalled clients",
         plot_dir / "slow_consumers.png")  # fmt: skip

    ours, theirs = fan["course /events"], fan["aiohttp-sse reference"]
    ws_ours, ws_theirs = ws_fan["course /ws"], ws_fan["aiohttp WebSocket broadcast"]
    rows = [
        ("stop() with 50 streams", stop_busy, "the 1 s promise", 1.0),
        ("GET round trip p50", get_p50, "TCP echo p50", tcp),
        *[(f"{name} p50", s["p50"], "TCP echo p50", tcp) for name, s in rtt.items()][1:],
        *fan_out_rows("SSE", "aiohttp-sse", fan, fan_cpu, FAN_OUTS["sse"]),
        *fan_out_rows("WebSocket", "aiohttp ws", ws_fan, ws_fan_cpu, FAN_OUTS["ws"]),
        (
            "WebSocket fan-out: bare writes' CPU",
            ws_fan_cpu[FLOOR],
            "aiohttp ws",
            ws_fan_cpu[FAN_OUTS["ws"][1]],
        ),
        (
            "fast clients' p99, 20 stalled beside",
            slow_fan["with stalled clients"]["p99"],
            "none stalled",
            slow_fan["without stalled clients"]["p99"],
        ),
    ]
    print(f"\n{'measure':<40}{'value':>11}  {'reference':<16}{'ref.':>11}{'ratio':>8}")
    for label, value, reference, ref_value in rows:
        print(
            f"{label:<40}{value * 1000:>9.3f}ms  {reference:<16}{ref_value * 1000:>9.3f}ms"
            f"{value / ref_value:>8.2f}"
        )
    for name in compared.names[1:]:
        print(compared.sentence(name))
    print(f"slow consumers: {let_go} of {SLOW_STALLED * 2} stalled clients let go by the "
          "2 s write timeout while the fast ones read on")  # fmt: skip
    for name, per in memory.items():
        print(f"{name}: {clients} idle connections held, {per / 1024:.1f} KiB of memory each")
    print(f"SSE parsing, {len(stream) / 1e6:.1f} MB, median of {args.repeat} alternated rounds:")
    for reads, speeds in parsing.items():
        course_mb = statistics.median(speeds["course EventParser"])
        httpx_mb = statistics.median(speeds["httpx-sse"])
        print(f"  {reads:<14} course {course_mb:7.1f} MB/s   httpx-sse {httpx_mb:7.1f} MB/s"
              f"   ratio {course_mb / httpx_mb:.2f}")
    verdicts = [
        ("stop() with 50 streams under 1 s", stop_busy < 1),
        ("hand-written WebSocket echo within 2x of TCP",
         rtt["hand-written WebSocket echo"]["p50"] < 2 * tcp),
        ("SSE fan-out p99 no worse than aiohttp-sse", ours["p99"] <= theirs["p99"]),
        ("SSE fan-out at most 0.5x aiohttp-sse's p99 and CPU per post (lesson 11's target)",
         ours["p99"] <= 0.5 * theirs["p99"]
         and fan_cpu["course /events"] <= 0.5 * fan_cpu["aiohttp-sse reference"]),
        ("WebSocket fan-out at most 0.5x the aiohttp broadcast's p99 and CPU per post",
         ws_ours["p99"] <= 0.5 * ws_theirs["p99"]
         and ws_fan_cpu["course /ws"] <= 0.5 * ws_fan_cpu["aiohttp WebSocket broadcast"]),
        ("fast clients' p99 within 2x with 20 stalled clients beside them", slow_ratio <= 2),
    ]  # fmt: skip
    for claim, holds in verdicts:
        print(f"{claim}: {'yes' if holds else 'NO'}")
    print(
        f"WebSocket fan-out floor: one bare write per client costs {ws_floor_ratio:.2f}x the "
        "aiohttp broadcast's CPU per post; no fan-out that writes to each client goes below"
    )
    print(f"figures written to {args.out}, plots to {plot_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
