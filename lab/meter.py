"""A byte meter: a TCP relay that counts every byte between clients and a server (lesson 01).

Clients connect to the meter instead of the server; it forwards both ways and counts what
passes, so the totals include request lines, headers, chunk sizes and frames: everything on
the wire above TCP. Optionally it cuts connections that stay idle too long, as a proxy does;
``freeze()`` makes it drop everything silently without closing anything, as a dead network
path does (a half-open connection, lesson 04); ``cut()`` closes every relayed connection at
once without a word, as a proxy that crashes does (lesson 07). The relaying itself is
``servers.relay``, shared with lesson 09's fallback balancer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from servers.relay import relay


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
            cut = await relay(
                (client_reader, client_writer),
                (server_reader, server_writer),
                idle_timeout=self.idle_timeout,
                on_data=self._count,
                **self._hold_for_next(),
            )
            self.counts.cut_idle += cut
        except (OSError, asyncio.CancelledError):
            pass  # a refused upstream, or the meter closing: the connection just ends
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
            self._tasks.discard(asyncio.current_task())

    def _hold_for_next(self) -> dict:
        """Extra ``relay`` options for the next connection: none here (``lab.stall``)."""
        return {}

    def _count(self, direction: str, data: bytes) -> bool:
        if self.frozen:
            return False  # swallowed: not forwarded, not counted
        setattr(self.counts, direction, getattr(self.counts, direction) + len(data))
        return True
