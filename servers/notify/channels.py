"""The service's channels, each a feed on the backplane with its own ids (lesson 14).

A **channel** is lesson 10's backend feed for one topic: a ``BackplaneFeed`` written only by
its relay, over a ``Broker`` of its own (Redis: keys under ``notify:NAME``), so every channel
numbers its posts from 1, keeps its own bounded history in the broker, and any backend on the
same backplane holds the same posts under the same ids: a client's ``Last-Event-ID`` means
the same thing on every backend, and any backend can resume any client.

Names: ``broadcast`` is the channel everyone reads; every other channel is a user's
(``servers.notify.auth.USER_NAME``), readable only by that user. A backend opens a channel
when a request first needs it (its relay subscribes and catches up from the broker's history
before the request goes on) and keeps it until it stops, at most ``max_channels`` of them.

One subscription per open channel is what the ``Broker`` contract offers; a service with
many users would subscribe once to a pattern (Redis ``PSUBSCRIBE notify:*``) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from servers.backplane import (
    BackplaneDown,
    BackplaneFeed,
    Broker,
    MemoryBroker,
    RedisBroker,
    RelayStatus,
    relay,
)
from servers.notify.auth import USER_NAME

BROADCAST = "broadcast"
HISTORY = 100
"""Posts each channel's history keeps (the newest): what a client can be away for and still
resume without a ``gap``."""
MAX_CHANNELS = 10_000
"""Channels one backend holds open at most (each is a subscription and a history)."""
READY_TIMEOUT = 5.0
"""Seconds a request waits for a new channel's relay to subscribe and catch up."""


class NoSuchChannel(LookupError):
    """A channel name that is neither ``broadcast`` nor a user's."""


class TooManyChannels(RuntimeError):
    """This backend holds ``max_channels`` open already."""


def check_channel(name: str) -> str:
    """``name`` if it names a channel, else ``NoSuchChannel`` saying what does."""
    if name == BROADCAST or USER_NAME.fullmatch(name):
        return name
    raise NoSuchChannel(
        f"no channel {name!r:.40}: channels are {BROADCAST!r} and each user's own, named as "
        "the user (a-z, 0-9, '_', '-', at most 32 characters)"
    )


def owner(name: str) -> str | None:
    """The user a channel is private to, or None (``broadcast``: everyone's)."""
    return None if name == BROADCAST else name


class MemoryBrokers:
    """One ``MemoryBroker`` per channel, in this process (the fallback without Redis). Give the
    same ``MemoryBrokers`` to two apps in one process and they share a backplane."""

    kind = "memory"

    def __init__(self, *, history: int = HISTORY) -> None:
        self.history = history
        self._brokers: dict[str, MemoryBroker] = {}

    def __call__(self, channel: str) -> Broker:
        if channel not in self._brokers:
            self._brokers[channel] = MemoryBroker(history=self.history)
        return self._brokers[channel]


class RedisBrokers:
    """A ``RedisBroker`` per channel on the Redis at ``url``, keys under ``notify:NAME``."""

    kind = "redis"

    def __init__(self, url: str, *, history: int = HISTORY, prefix: str = "notify") -> None:
        self.url, self.history, self.prefix = url, history, prefix

    def __call__(self, channel: str) -> Broker:
        return RedisBroker(self.url, prefix=f"{self.prefix}:{channel}", history=self.history)


class Channel:
    """One open channel: its ``feed`` (posts, ids from the broker), the relay filling it, and
    the relay's ``status``."""

    def __init__(self, name: str, broker: Broker, history: int) -> None:
        self.name, self.broker = name, broker
        self.feed = BackplaneFeed(broker, history=history)
        self.status = RelayStatus()
        self.feed.loop = asyncio.get_running_loop()
        self._relay = asyncio.ensure_future(relay(self.feed, broker, status=self.status))

    async def ready(self, timeout: float) -> None:
        """Once the relay has subscribed and caught up; ``BackplaneDown`` if not in time."""
        if self.status.ready.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.status.ready.wait()), timeout)
        if not self.status.ready.is_set():
            raise BackplaneDown(
                f"channel {self.name!r} is not on the backplane yet (it did not answer within "
                f"{timeout:g} s): try again later"
            )

    async def close(self) -> None:
        self._relay.cancel()
        await asyncio.gather(self._relay, return_exceptions=True)
        await self.broker.close()


class Channels:
    """The channels a backend holds open, each made by ``brokers(name)`` on first use."""

    def __init__(
        self,
        brokers: MemoryBrokers | RedisBrokers,
        *,
        max_channels: int = MAX_CHANNELS,
        ready_timeout: float = READY_TIMEOUT,
        on_open: Callable[[Channel], object] | None = None,
    ) -> None:
        """``on_open(channel)`` is called as each channel opens, before any stream reads it."""
        self.brokers, self.max_channels, self.ready_timeout = brokers, max_channels, ready_timeout
        self.on_open = on_open
        self._open: dict[str, Channel] = {}

    async def get(self, name: str, *, internal: bool = False) -> Channel:
        """The open channel ``name`` (opened now if need be), caught up with the backplane.
        ``NoSuchChannel``, ``TooManyChannels``, or ``BackplaneDown`` (try later).
        ``internal``: a channel of the service's own (``servers.notify.reads``), whose name
        no client can give."""
        channel = self._open.get(name if internal else check_channel(name))
        if channel is None:
            if len(self._open) >= self.max_channels:
                raise TooManyChannels(
                    f"this backend holds {self.max_channels} channels open already"
                )
            channel = self._open[name] = Channel(name, self.brokers(name), self.brokers.history)
            if self.on_open is not None:
                self.on_open(channel)
        await channel.ready(self.ready_timeout)
        return channel

    def __len__(self) -> int:
        return len(self._open)

    def subscribed(self) -> int:
        """How many open channels' relays are on the backplane right now."""
        return sum(channel.status.subscribed for channel in self._open.values())

    async def close(self) -> None:
        channels, self._open = list(self._open.values()), {}
        await asyncio.gather(*(channel.close() for channel in channels))
