"""lab.echo: a raw TCP echo and a library WebSocket echo, and timers that check every reply."""

from __future__ import annotations

import asyncio

from lab import echo
from servers.rfc6455 import serve_echo


def test_the_tcp_echo_sends_back_every_byte_and_each_round_trip_is_timed():
    with echo.serve_tcp_echo(name="test-tcp-echo") as server:
        assert server.url == f"tcp://127.0.0.1:{server.port}"
        samples = asyncio.run(echo.tcp_round_trips(server.host, server.port, 50, size=100))
    assert len(samples) == 50 and all(s > 0 for s in samples)


def test_websocket_round_trips_work_against_the_library_and_the_hand_written_echo():
    with echo.serve_ws_echo(name="test-ws-echo") as library, serve_echo() as by_hand:
        for url in (echo.ws_url(library), by_hand.url):
            samples = asyncio.run(echo.ws_round_trips(url, 20))
            assert len(samples) == 20 and all(s > 0 for s in samples)


def test_the_library_echo_returns_binary_as_binary():
    from websockets.asyncio.client import connect

    async def scenario():
        async with connect(echo.ws_url(server), max_size=None) as ws:
            await ws.send(b"\x00\xff" * 300_000)
            return await ws.recv()

    with echo.serve_ws_echo(name="test-ws-echo-binary") as server:
        assert asyncio.run(scenario()) == b"\x00\xff" * 300_000


def test_the_feeds_socket_times_a_post_published_through_it_and_pushed_back():
    from servers import serve
    from servers.feed import Feed, make_app

    feed = Feed()

    async def scenario():
        async with echo.feed_exchange(echo.ws_url(server, "/ws")) as exchange:
            return await echo.time_exchanges(exchange, 3)

    with serve(make_app(feed), name="test-feed-echo") as server:
        samples = asyncio.run(scenario())
    assert len(samples) == 3 and [p["text"] for p in feed.since(0)] == [
        "rtt 0", "rtt 1", "rtt 2"]


def test_an_echo_that_answers_other_bytes_is_caught():
    import pytest

    async def wrong(reader, writer):
        while data := await reader.read(65536):
            writer.write(data.upper())
            await writer.drain()

    from servers.runtime import serve_streams

    with (serve_streams(wrong, name="test-wrong-echo", scheme="tcp") as server,
          pytest.raises(AssertionError, match="other bytes")):
        asyncio.run(echo.tcp_round_trips(server.host, server.port, 1))
