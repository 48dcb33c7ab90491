"""A byte meter: a TCP relay that counts every byte between clients and a server (lesson 01).

Clients connect to the meter instead of the server; it forwards both ways and counts what
passes, so the totals include request lines, headers, chunk sizes and frames: everything on
the wire above TCP. Optionally it cuts connections that stay idle too long, as a proxy does;
``freeze()`` makes it drop everything silently without closing anything, as a dead network
path does (a half-open connection, lesson 04); ``cut()`` closes every relayed connection at
once without a word, as a proxy that crashes does (lesson 07).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class Counts:
    up: int = 0
    """Bytes from clients to the server."""
    down: int = 0
    """Bytes from the server to clients."""
    connections: int = 0
    cut_idle: int = 0
    """Connections closed by the meter because nothing passed for ``idle_timeout`` seconds."""


class ByteMeter:
    """``async with ByteMeter(host, port) as meter:`` then connect to ``meter.port``."""

    def __init__(self, host: str, port: int, *, idle_timeout: float | None = None) -> None:
        self.target = (host, port)
        self.idle_timeout = idle_timeout
        self.counts = Counts()
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.frozen = False

    def freeze(self) -> None:
        """From now on, swallow every byte both ways and close nothing: a dead path."""
        self.frozen = True

    async def cut(self) -> None:
        """Close every connection relayed so far, both ends, passing nothing more: the TCP
        connections end (FIN) with no goodbye from the server in them (lesson 07)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> ByteMeter:
        self._server = await asyncio.start_server(self._relay, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, client_reader, client_writer) -> None:
        self._tasks.add(asyncio.current_task())
        self.counts.connections += 1
        server_writer = None
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
            idle = asyncio.Event()
            pumps = [
                asyncio.ensure_future(self._pump(client_reader, server_writer, "up", idle)),
                asyncio.ensure_future(self._pump(server_reader, client_writer, "down", idle)),
            ]
            if self.idle_timeout is not None:
                pumps.append(asyncio.ensure_future(self._watch_idle(idle)))
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass  # a refused upstream, or the meter closing: the connection just ends
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
            self._tasks.discard(asyncio.current_task())

    async def _pump(self, reader, writer, direction: str, activity: asyncio.Event) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.frozen:
                    continue
                setattr(self.counts, direction, getattr(self.counts, direction) + len(data))
                activity.set()
                writer.write(data)
                await writer.drain()

    async def _watch_idle(self, activity: asyncio.Event) -> None:
        while True:
            activity.clear()
            try:
                await asyncio.wait_for(activity.wait(), self.idle_timeout)
            except TimeoutError:
                self.counts.cut_idle += 1
                return
