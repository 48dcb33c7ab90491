"""lab.meter.ByteMeter: counts every byte both ways, and cuts idle connections when asked."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from lab.meter import ByteMeter
from servers import runtime


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def echo_through_meter(idle_timeout=None):
    """One connection to an echo server through a ByteMeter: yields ``(meter, reader, writer)``;
    the connection, the meter and the server are closed after the block."""
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ByteMeter("127.0.0.1", port, idle_timeout=idle_timeout) as meter:
            reader, writer = await asyncio.open_connection(meter.host, meter.port)
            try:
                yield meter, reader, writer
            finally:
                writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def through_meter(payloads: list[bytes], idle_timeout=None, pause=0.0):
    async with echo_through_meter(idle_timeout) as (meter, reader, writer):
        echoed = b""
        for payload in payloads:
            writer.write(payload)
            echoed += await reader.readexactly(len(payload))
        await asyncio.sleep(pause)
        closed_by_meter = await reader.read() == b""
        return echoed, meter.counts, closed_by_meter


def test_every_byte_is_counted_in_each_direction():
    payloads = [b"x" * 10, b"y" * 70_000, b"z"]
    echoed, counts, _ = asyncio.run(through_meter(payloads, idle_timeout=0.2))
    assert echoed == b"".join(payloads)
    assert (counts.up, counts.down, counts.connections) == (70_011, 70_011, 1)


def test_a_connection_idle_longer_than_the_timeout_is_cut():
    _, counts, closed = asyncio.run(through_meter([b"hello"], idle_timeout=0.05, pause=0.2))
    assert closed and counts.cut_idle == 1


def test_http_through_the_meter_counts_headers_as_well_as_bodies(feed_server):
    async def get_through_meter():
        async with ByteMeter(feed_server.host, feed_server.port) as meter:
            async with httpx.AsyncClient() as client:
                response = await client.get(meter.url + "/posts")
            return response, meter.counts

    response, counts = runtime.run(get_through_meter())
    assert response.json() == []
    assert counts.down > len(response.content) + 100  # status line and headers are counted
    assert counts.up > len(b"GET /posts HTTP/1.1\r\n")


def test_a_frozen_meter_swallows_everything_and_closes_nothing():
    async def scenario():
        async with echo_through_meter() as (meter, reader, writer):
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            meter.freeze()
            writer.write(b"lost")
            try:
                await asyncio.wait_for(reader.read(4), 0.2)
                answered = True
            except TimeoutError:
                answered = False
            return answered, not reader.at_eof()  # still open

    assert asyncio.run(scenario()) == (False, True)


def test_cut_closes_every_relayed_connection_at_once():
    async def scenario():
        async with echo_through_meter() as (meter, reader, writer):
            writer.write(b"hello")
            echoed = await reader.readexactly(5)
            await meter.cut()
            return echoed, await asyncio.wait_for(reader.read(), 5) == b""  # ended

    assert asyncio.run(scenario()) == (b"hello", True)
