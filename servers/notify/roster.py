"""How the service keeps presence: a ``Presence`` per channel, the heartbeat (lesson 14).

``Roster`` is one backend's side of ``servers.notify.presence``: the app calls
``async with roster.present(channel, user):`` around each SSE stream and WebSocket of a
logged-in user (``arrive`` when it opens, ``leave`` when it ends, however it ends), and
``await roster.online(channel)`` for ``GET /channels/NAME/presence``. Every ``ttl / 3``
seconds the heartbeat calls each channel's ``beat()``, and now and then sweeps entries that
expired a whole ``ttl`` ago (a dead backend's) out of the store.

Calls into one channel's ``Presence`` are made one at a time (a lock per channel), so its
code never sees a ``leave`` run in the middle of its own ``beat``. Presence is an
indicator, not delivery: a presence call that fails is logged, and the stream goes on.

``PresenceSetup`` says which ``Presence`` class (exercise 14's checks give the learner's),
on which store, with which ``ttl`` and backend name; ``make_app(presence=...)`` takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from servers.notify.auth import Refused, Signer, identify
from servers.notify.channels import MemoryBrokers, RedisBrokers
from servers.notify.presence import TTL, Presence, store_for

LOG = logging.getLogger("servers.notify.presence")
SWEEP_EVERY = 10
"""Heartbeats between two sweeps of the store."""


def backend_name() -> str:
    """A name for this backend, unique among backends: host, process, and a random part
    (two apps in one process, or a restarted process, are each a backend of their own)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class PresenceSetup:
    """Presence for ``make_app``: ``kind(store, backend, ttl)`` makes a channel's presence
    (``servers.notify.presence.Presence``); ``store`` has ``channel(name)`` (None: the one
    ``store_for`` gives beside the backplane); ``backend`` names this backend (None: drawn)."""

    kind: Callable[..., Any] = Presence
    store: Any = None
    ttl: float = TTL
    backend: str | None = None

    def __post_init__(self) -> None:
        if not self.ttl > 0:
            raise ValueError(f"presence ttl must be a positive number of seconds: {self.ttl!r}")


class Roster:
    """One backend's presence in every channel it serves."""

    def __init__(self, setup: PresenceSetup, brokers: MemoryBrokers | RedisBrokers) -> None:
        self.setup, self.ttl = setup, setup.ttl
        self.backend = setup.backend or backend_name()
        self.store = setup.store if setup.store is not None else store_for(brokers)
        self._own_store = setup.store is None and not isinstance(brokers, MemoryBrokers)
        self._channels: dict[str, tuple[Any, asyncio.Lock]] = {}
        self._heartbeat: asyncio.Task | None = None
        self.beats = 0

    def _of(self, name: str) -> tuple[Any, asyncio.Lock]:
        if name not in self._channels:
            presence = self.setup.kind(self.store.channel(name), self.backend, self.ttl)
            self._channels[name] = (presence, asyncio.Lock())
        return self._channels[name]

    async def _call(self, name: str, method: str, *args: str) -> None:
        presence, lock = self._of(name)
        try:
            async with lock:
                await getattr(presence, method)(*args)
        except Exception as error:  # an indicator: the stream goes on without it
            LOG.warning("presence %s%s in %r failed: %s", method, args, name, error)

    @contextlib.asynccontextmanager
    async def present(self, name: str, user: str | None) -> AsyncIterator[None]:
        """``user`` is online in channel ``name`` (through this backend) for the block's
        duration; ``None`` (no login) counts no one."""
        if user is None:
            yield
            return
        await self._call(name, "arrive", user)
        try:
            yield
        finally:
            await self._call(name, "leave", user)

    async def online(self, name: str) -> list[str]:
        """Who is online in channel ``name``, sorted (``BackplaneUnavailable`` if the store
        cannot say)."""
        presence, _ = self._of(name)
        return sorted(await presence.online())

    async def beat(self) -> None:
        """One heartbeat: every channel's ``beat()``, and every ``SWEEP_EVERY``-th time a
        sweep of entries that expired a ``ttl`` ago or more."""
        self.beats += 1
        for name in list(self._channels):
            await self._call(name, "beat")
        if self.beats % SWEEP_EVERY == 0:
            for name in list(self._channels):
                with contextlib.suppress(Exception):
                    await self.store.channel(name).sweep(time.time() - self.ttl)

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self.beat()

    async def start(self, app: web.Application) -> None:
        self._heartbeat = asyncio.ensure_future(self._beating())

    async def stop(self, app: web.Application) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._own_store:
            await self.store.close()


def user_or_none(request: web.Request, signer: Signer) -> str | None:
    """The request's user if it carries a valid login, else None: an SSE stream of
    ``broadcast`` with a stale cookie is still read, by no one presence counts."""
    try:
        return identify(request, signer)
    except Refused:
        return None
