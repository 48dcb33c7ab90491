"""A TCP relay with an idle timeout, written once (lessons 01 and 09).

``relay(client, upstream)`` copies bytes both ways between two ``(reader, writer)`` pairs
until either side ends, or — with ``idle_timeout`` — until nothing has crossed either way for
that many seconds, as a proxy's read timeout cuts a quiet connection. Lesson 01's byte meter
(``lab.meter``) counts what crosses through ``on_data``; lesson 09's fallback balancer
(``servers.balancer``) only relays. Neither writer is closed here: the caller owns them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

UP, DOWN = "up", "down"
"""Directions for ``on_data``: from the client to the upstream, and back."""

CHUNK = 65536


async def relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    *,
    idle_timeout: float | None = None,
    on_data: Callable[[str, bytes], bool] | None = None,
    hold: asyncio.Event | None = None,
) -> bool:
    """Relay until one side ends or the connection idles; True when the idle timeout cut it.

    ``on_data(direction, data)`` sees every chunk before it is forwarded; returning False drops
    it (it is neither forwarded nor counted as activity: a dead path). While ``hold`` is clear,
    bytes to the client wait, in order, and are forwarded once it is set (lesson 13).
    """
    moved = asyncio.Event()
    pumps = [
        asyncio.ensure_future(_pump(client[0], upstream[1], UP, moved, on_data)),
        asyncio.ensure_future(_pump(upstream[0], client[1], DOWN, moved, on_data, hold)),
    ]
    idle = None
    if idle_timeout is not None:
        idle = asyncio.ensure_future(_until_idle(moved, idle_timeout))
        pumps.append(idle)
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    return idle is not None and idle.done() and not idle.cancelled() and idle.exception() is None


async def _pump(reader, writer, direction: str, moved: asyncio.Event, on_data, hold=None) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            if on_data is not None and not on_data(direction, data):
                continue
            if hold is not None:
                await hold.wait()
            moved.set()
            writer.write(data)
            await writer.drain()


async def _until_idle(moved: asyncio.Event, seconds: float) -> None:
    """Return once ``seconds`` pass with nothing moved."""
    while True:
        moved.clear()
        try:
            await asyncio.wait_for(moved.wait(), seconds)
        except TimeoutError:
            return
