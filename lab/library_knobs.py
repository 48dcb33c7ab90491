"""The libraries' own buffers, measured: how much a ``send`` accepts before it waits, and how
much a reader holds before it stops reading (lesson 11 introduces it).

``send_backlog(library, ...)`` serves one client that never reads, from ``"aiohttp SSE"``
(``StreamResponse.write``), ``"aiohttp WebSocket"`` (``WebSocketResponse.send_str``, its
``writer_limit``) or ``"websockets"`` (``ServerConnection.send``, its ``write_limit``). The
handler sends 1 KiB messages as fast as each ``await`` returns; once one has waited ``stuck``
seconds the cell gets a ``Backlog``: what the handler's sends had accepted, and where those
bytes are (the process's transport buffer, the server's kernel send queue, the client's
kernel receive queue: ``lab.socket_buffers``). Both kernel buffers are fixed small
(``SO_SNDBUF``/``SO_RCVBUF``), so the library's own buffer is what the numbers show.

``read_backlog(max_queue)`` is the other direction: a ``websockets`` server whose handler
never calls ``recv``, and a client sending 10 KiB messages until one send waits. What the
server's process holds is what was sent, minus what waits in the client's library buffer and
both kernels.

Each runs on the servers' loop (``servers.runtime.run``) and closes everything it opened.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from aiohttp import web

from lab.slow_clients import request_bytes
from lab.socket_buffers import inq, outq, small_receiver
from servers import runtime

LIBRARIES = ("aiohttp SSE", "aiohttp WebSocket", "websockets")
KERNEL_BUFFER = 4096
"""``SO_SNDBUF``/``SO_RCVBUF`` asked for on both ends (Linux doubles it: ``socket(7)``)."""


@dataclass(frozen=True)
class Backlog:
    library: str
    knob: str
    accepted: int
    """Bytes the handler had handed to its sends when one of them waited."""
    process: int
    """Of those, in the server's transport buffer (this process's memory)."""
    server_kernel: int
    client_kernel: int


def send_backlog(library: str, *, limit: int | None = None, stuck: float = 0.3) -> Backlog:
    """One stalled client of ``library``'s server; ``limit`` sets its knob (aiohttp's
    ``writer_limit`` for WebSockets, websockets' ``write_limit``; ``None``: the default)."""
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    return runtime.run(_send_backlog(library, limit, stuck), timeout=30)


async def _send_backlog(library: str, limit: int | None, stuck: float) -> Backlog:
    state: dict = {"accepted": 0}
    blocked = asyncio.Event()

    async def pump(send, transport) -> None:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER)
        state["transport"], state["socket"] = transport, sock
        message = "x" * 1024
        try:
            while True:
                sending = asyncio.ensure_future(send(message))
                state["accepted"] += len(message)
                done, _ = await asyncio.wait([sending], timeout=stuck)
                if not done:
                    blocked.set()
                    await sending
        except Exception:  # noqa: BLE001  the client went away: each library says so its own way
            pass

    if library == "websockets":
        from websockets.asyncio.server import serve

        knob = dict(write_limit=limit) if limit is not None else {}
        server = await serve(
            lambda ws: pump(ws.send, ws.transport),
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=None,
            close_timeout=0.1,
            **knob,
        )
        port = server.sockets[0].getsockname()[1]
        closing = server
    else:
        runner, port = await _aiohttp_server(library, limit, pump)
        closing = runner
    client = small_receiver(KERNEL_BUFFER)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        kind = "sse" if library == "aiohttp SSE" else "ws"
        await loop.sock_sendall(client, request_bytes(kind, "127.0.0.1", port))
        await asyncio.wait_for(blocked.wait(), 20)
        name = {
            "aiohttp SSE": "",
            "aiohttp WebSocket": "writer_limit",
            "websockets": "write_limit",
        }[library]
        knob = f"{name}={limit}" if limit is not None else (f"{name} default" if name else "")
        return Backlog(
            library,
            knob,
            state["accepted"],
            state["transport"].get_write_buffer_size(),
            outq(state["socket"]),
            inq(client),
        )
    finally:
        client.close()
        if library == "websockets":
            closing.close()
            await closing.wait_closed()
        else:
            await closing.cleanup()


async def _aiohttp_server(library: str, limit: int | None, pump) -> tuple[web.AppRunner, int]:
    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await pump(lambda text: response.write(f"data: {text}\n\n".encode()), request.transport)
        return response

    async def ws(request: web.Request) -> web.StreamResponse:
        knob = dict(writer_limit=limit) if limit is not None else {}
        socket_ = web.WebSocketResponse(**knob)
        await socket_.prepare(request)
        await pump(socket_.send_str, request.transport)
        return socket_

    app = web.Application()
    app.router.add_get("/events", sse)
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


@dataclass(frozen=True)
class ReadBacklog:
    max_queue: int
    sent: int
    client_process: int
    client_kernel: int
    server_kernel: int

    @property
    def server_process(self) -> int:
        """What the server's process holds: sent, minus what waits anywhere else."""
        return self.sent - self.client_process - self.client_kernel - self.server_kernel


def read_backlog(max_queue: int, *, size: int = 10_240, stuck: float = 0.3) -> ReadBacklog:
    """A ``websockets`` server with ``max_queue`` whose handler never reads, and a client that
    sends ``size``-byte messages until one waits ``stuck`` seconds."""
    return runtime.run(_read_backlog(max_queue, size, stuck), timeout=30)


async def _read_backlog(max_queue: int, size: int, stuck: float) -> ReadBacklog:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    held: dict = {}

    async def never_reads(ws) -> None:
        held["socket"] = ws.transport.get_extra_info("socket")
        await ws.wait_closed()

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, KERNEL_BUFFER)  # inherited
    server = await serve(
        never_reads,
        sock=listener,
        max_queue=max_queue,
        max_size=None,
        compression=None,
        ping_interval=None,
        close_timeout=0.1,
    )
    port = listener.getsockname()[1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
    sent = 0
    try:
        async with connect(
            f"ws://127.0.0.1:{port}",
            sock=client,
            compression=None,
            ping_interval=None,
            close_timeout=0.1,
        ) as ws:
            message = b"x" * size
            while True:
                sending = asyncio.ensure_future(ws.send(message))
                sent += size
                done, _ = await asyncio.wait([sending], timeout=stuck)
                if not done:
                    break
            result = ReadBacklog(
                max_queue,
                sent,
                ws.transport.get_write_buffer_size(),
                outq(client),
                inq(held["socket"]),
            )
            sending.cancel()
            ws.transport.abort()
            return result
    finally:
        server.close()
        await server.wait_closed()
