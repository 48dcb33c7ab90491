"""lab.stall: a relay that holds one connection back, and the gaps it leaves in tick streams."""

from __future__ import annotations

import asyncio
import time

from lab.stall import StallRelay, gap_covering, stall_both
from servers.multiplex import serve_multiplexed
from servers.timing import scaled


def test_gap_covering_finds_the_pair_around_a_silence_or_none():
    arrivals = [0.0, 0.1, 0.2, 1.0, 1.1]
    assert gap_covering(arrivals, 0.3, 0.9) == (0.2, 1.0)
    assert gap_covering(arrivals, 0.05, 0.9) is None  # 0.1 and 0.2 arrived inside
    assert gap_covering([0.0], 0.1, 0.2) is None


async def _echo_through_hold() -> tuple[float, float, float, float]:
    async def echo(reader, writer):
        while data := await reader.read(100):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with StallRelay("127.0.0.1", port) as relay:
        held_r, held_w = await asyncio.open_connection("127.0.0.1", relay.port)
        free_r, free_w = await asyncio.open_connection("127.0.0.1", relay.port)
        held_w.write(b"a")
        await held_r.read(1)  # both connections are through
        free_w.write(b"a")
        await free_r.read(1)
        hold = asyncio.ensure_future(relay.hold(0, scaled(0.3)))
        await asyncio.sleep(0)
        held_w.write(b"b")
        free_w.write(b"b")
        await free_r.read(1)
        free_at = time.monotonic()
        await held_r.read(1)
        held_at = time.monotonic()
        start, end = await hold
        for writer in (held_w, free_w):
            writer.close()
    server.close()
    await server.wait_closed()
    return start, end, free_at, held_at


def test_a_hold_delays_only_its_own_connection_until_it_ends():
    start, end, free_at, held_at = asyncio.run(_echo_through_hold())
    assert free_at < end <= held_at
    assert start <= free_at


def test_the_stall_stops_every_http2_stream_and_only_the_held_http1_one():
    with serve_multiplexed(http2=True) as h2, serve_multiplexed(http2=False) as h1:
        run = asyncio.run(stall_both(h2.port, h1.port, streams=3, hold_for=0.5, settle=0.3))
    start, end = run["hold"]
    slack = scaled(0.05)
    assert run["connections"] == {"h2": 1, "h1": 3}
    assert all(gap_covering(a, start + slack, end) for a in run["h2"])
    assert gap_covering(run["h1"][0], start + slack, end)
    assert not any(gap_covering(a, start + slack, end) for a in run["h1"][1:])
