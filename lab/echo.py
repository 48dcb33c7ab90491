"""Echo servers and round-trip timers: raw TCP against WebSockets (introduced in lesson 07).

``serve_tcp_echo`` sends back every byte it reads, with no framing at all: the floor any
protocol on TCP is measured against. ``make_ws_echo_app`` is the same echo as an aiohttp
WebSocket route (a library server), beside the hand-written ``servers.rfc6455.serve_echo``.
Each ``*_exchange`` opens one connection and yields a function that sends one message and
waits for it to come back (checked): the same shape for raw TCP, a WebSocket echo and the
feed's ``/ws``, so every client is timed the same way (``time_exchanges``; ``lab.roundtrips``
alternates them). Each sample is one round trip, in seconds, measured with ``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import WSMsgType, web
from websockets.asyncio.client import connect

from servers.runtime import Server, serve, serve_streams


async def _echo_bytes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


def serve_tcp_echo(*, name: str | None = None, port: int = 0) -> Server:
    """A raw TCP echo server on the background loop, at ``tcp://127.0.0.1:PORT``."""
    return serve_streams(_echo_bytes, name=name, port=port, scheme="tcp")


async def _echo_messages(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=0)  # 0: no limit, for the 1 MB payloads
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


def make_ws_echo_app() -> web.Application:
    """An aiohttp app whose ``GET /echo`` WebSocket sends every message back, as it came."""
    app = web.Application()
    app.router.add_get("/echo", _echo_messages)
    return app


def serve_ws_echo(*, name: str | None = None) -> Server:
    """``make_ws_echo_app()`` served; its WebSocket URL is ``ws_url(server)``."""
    return serve(make_ws_echo_app(), name=name)


def ws_url(server: Server, path: str = "/echo") -> str:
    """The ``ws://`` URL of a route on an HTTP server."""
    return f"ws://{server.host}:{server.port}{path}"


WARMUP = 200
"""Round trips made and thrown away first: the first few hundred pay for cold caches."""

Exchange = Callable[[], Awaitable[None]]
"""One message sent and its echo received and checked: what every timer here times."""


@asynccontextmanager
async def tcp_exchange(host: str, port: int, size: int = 32) -> AsyncIterator[Exchange]:
    """An open TCP connection to an echo; each call sends ``size`` bytes and reads them back."""
    payload = b"x" * size
    reader, writer = await asyncio.open_connection(host, port)

    async def exchange() -> None:
        writer.write(payload)
        if await reader.readexactly(size) != payload:
            raise AssertionError("the TCP echo sent back other bytes")

    try:
        yield exchange
    finally:
        writer.close()
        await writer.wait_closed()


@asynccontextmanager
async def ws_exchange(url: str, size: int = 32) -> AsyncIterator[Exchange]:
    """An open WebSocket to an echo; each call sends a ``size``-byte text message and reads it
    back. The client is the ``websockets`` library with compression off, so both sides move
    the same bytes as the TCP echo plus the frame headers."""
    payload = "x" * size
    async with connect(url, compression=None, ping_interval=None) as ws:

        async def exchange() -> None:
            await ws.send(payload)
            if await ws.recv() != payload:
                raise AssertionError("the WebSocket echo sent back another message")

        yield exchange


@asynccontextmanager
async def feed_exchange(url: str) -> AsyncIterator[Exchange]:
    """An open socket to the feed's ``/ws``; each call publishes a post through it and waits
    for that post to be pushed back down (the feed's publish and fan-out on top of the echo)."""
    numbers = itertools.count()
    async with connect(url, compression=None, ping_interval=None) as ws:

        async def exchange() -> None:
            text = f"rtt {next(numbers)}"
            await ws.send(json.dumps({"text": text}))
            if json.loads(await ws.recv()).get("text") != text:
                raise AssertionError("/ws pushed back another post")

        yield exchange


async def time_exchanges(exchange: Exchange, count: int) -> list[float]:
    """``count`` calls of ``exchange``, each timed with ``time.perf_counter``, in seconds."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await exchange()
        samples.append(time.perf_counter() - started)
    return samples


async def tcp_round_trips(host: str, port: int, count: int, size: int = 32) -> list[float]:
    """``count`` round trips of ``size`` bytes over one TCP connection, in seconds (after
    ``WARMUP`` unrecorded ones)."""
    async with tcp_exchange(host, port, size) as exchange:
        return (await time_exchanges(exchange, WARMUP + count))[WARMUP:]


async def ws_round_trips(url: str, count: int, size: int = 32) -> list[float]:
    """``count`` round trips of a ``size``-byte text message over one WebSocket, in seconds
    (after ``WARMUP`` unrecorded ones)."""
    async with ws_exchange(url, size) as exchange:
        return (await time_exchanges(exchange, WARMUP + count))[WARMUP:]
