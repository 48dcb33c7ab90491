"""`make bench`: the runtime's timings, each beside a reference measured in the same run.

No test asserts a duration; this is where speed is watched. Figures go to a JSON file and a
table on stdout:

- ``stop()`` with 50 open streams, against ``stop()`` of an idle server (the reference): the
  promise is "under a second", the grace period streams get is ``runtime.SHUTDOWN_GRACE``;
- one GET over a kept-alive connection to an in-kernel server, against a bare TCP echo on the
  same loop (the reference: what the loopback and the loop cost without HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
from pathlib import Path

import httpx

from lab.streams import open_streams, read_to_end
from servers import runtime, serve
from servers.clock import make_clock_app
from servers.feed import Feed, make_app


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
        return [_timed(lambda: client.get(server.url + "/posts?since=1")) for _ in range(count)]


def echo_round_trips(count: int) -> list[float]:
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    tcp = runtime.run(asyncio.start_server(echo, "127.0.0.1", 0))
    port = tcp.sockets[0].getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return [_timed(lambda: (sock.sendall(b"x" * 64), sock.recv(64))) for _ in range(count)]
    finally:
        tcp.close()
        runtime.run(tcp.wait_closed())


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    stop_idle = statistics.median(time_stop(0) for _ in range(args.repeat))
    stop_busy = statistics.median(time_stop(50) for _ in range(args.repeat))
    get_p50 = statistics.median(get_round_trips(500))
    echo_p50 = statistics.median(echo_round_trips(500))
    figures = {
        "stop_idle_s": stop_idle,
        "stop_50_streams_s": stop_busy,
        "shutdown_grace_s": runtime.SHUTDOWN_GRACE,
        "get_round_trip_p50_s": get_p50,
        "tcp_echo_round_trip_p50_s": echo_p50,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")

    print(f"{'measure':<34}{'value':>12}{'reference':>12}{'ratio':>8}")
    rows = [
        ("stop() with 50 streams (idle ref.)", stop_busy, stop_idle),
        ("GET round trip p50 (TCP echo ref.)", get_p50, echo_p50),
    ]
    for label, value, reference in rows:
        ratio = value / reference
        print(f"{label:<34}{value * 1000:>10.2f}ms{reference * 1000:>10.2f}ms{ratio:>8.1f}")
    verdict = "yes" if stop_busy < 1 else "NO"
    print(f"stop() with 50 streams under 1 s: {verdict}; figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
