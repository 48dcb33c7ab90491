"""Echo servers and round-trip timers: raw TCP against WebSockets (introduced in lesson 07).

``serve_tcp_echo`` sends back every byte it reads, with no framing at all: the floor any
protocol on TCP is measured against. ``make_ws_echo_app`` is the same echo as an aiohttp
WebSocket route (a library server), beside the hand-written ``servers.rfc6455.serve_echo``.
The timers send one message, wait for it to come back, and repeat: each sample is one round
trip, in seconds, measured with ``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import time

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


async def tcp_round_trips(host: str, port: int, count: int, size: int = 32) -> list[float]:
    """``count`` round trips of ``size`` bytes over one TCP connection, in seconds (after
    ``WARMUP`` unrecorded ones)."""
    payload = b"x" * size
    reader, writer = await asyncio.open_connection(host, port)
    samples = []
    try:
        for _ in range(WARMUP + count):
            started = time.perf_counter()
            writer.write(payload)
            if await reader.readexactly(size) != payload:
                raise AssertionError("the TCP echo sent back other bytes")
            samples.append(time.perf_counter() - started)
    finally:
        writer.close()
        await writer.wait_closed()
    return samples[WARMUP:]


async def ws_round_trips(url: str, count: int, size: int = 32) -> list[float]:
    """``count`` round trips of a ``size``-byte text message over one WebSocket, in seconds
    (after ``WARMUP`` unrecorded ones).

    The client is the ``websockets`` library with compression off, so both sides move the
    same bytes as the TCP echo plus the frame headers.
    """
    payload = "x" * size
    samples = []
    async with connect(url, compression=None, ping_interval=None) as ws:
        for _ in range(WARMUP + count):
            started = time.perf_counter()
            await ws.send(payload)
            if await ws.recv() != payload:
                raise AssertionError("the WebSocket echo sent back another message")
            samples.append(time.perf_counter() - started)
    return samples[WARMUP:]
