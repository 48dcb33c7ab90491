"""Presence: who is online in a channel, kept where every backend sees it (lesson 14).

A channel's presence is a table of **entries** shared by every backend: each backend writes
one entry per user it holds a connection of, ``key -> Entry(user, count, expires)``: how many
of that user's connections (tabs) it holds, and until when (seconds since the epoch, a wall
clock every backend shares) the entry counts. A backend refreshes its entries while it runs
(a heartbeat) and removes one when the user's last connection to it closes; a backend that
dies refreshes nothing, so its entries expire and its users drop out within ``ttl`` seconds.
A user is online while any entry of theirs that has not expired counts a connection.

``Presence`` is that rule for one channel and one backend (the reference; exercise 14 asks
the learner to write it). The stores are the shared table, behind one small contract,
``ChannelEntries``: ``await put(key, user, count, expires)``, ``await drop(key)``,
``await entries() -> {key: Entry}`` and the service's ``await sweep(before)``, which removes
entries that expired before ``before``:

- ``MemoryPresenceStore``: in this process, for apps that share one (the fallback);
- ``RedisPresenceStore``: a Redis hash per channel, ``PREFIX:NAME``, each entry a field whose
  value is JSON ``[user, count, expires]``. Every write also pushes the hash's own expiry
  past the newest entry's (``PEXPIREAT ... NX`` then ``GT``, Redis 7), so a channel whose
  every backend died leaves nothing behind. Centrifugo's Redis presence is a hash too, with a
  sorted set beside it (since its v5.4.5, optionally Redis 7.4's per-field expiry instead).

``store_for(brokers)`` gives the store that goes with a service's backplane.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import weakref
from typing import NamedTuple, Protocol

from servers.backplane import BackplaneUnavailable
from servers.notify.channels import MemoryBrokers, RedisBrokers

TTL = 30.0
"""Seconds an entry counts unless its backend refreshes it: how long a dead backend's users
stay listed at most. The service refreshes every ``TTL / 3``, so two refreshes may be late."""
KEEP = 60.0
"""Seconds a Redis presence hash outlives its newest entry (clocks of backends differ a little)."""
TIMEOUT = 5.0
"""Seconds a Redis presence command may take before the store counts as unavailable."""


class Entry(NamedTuple):
    """One backend's entry for one user: ``count`` connections, valid until ``expires``."""

    user: str
    count: int
    expires: float


class ChannelEntries(Protocol):
    """One channel's entries, shared by every backend (what ``Presence`` is given)."""

    async def put(self, key: str, user: str, count: int, expires: float) -> None: ...
    async def drop(self, key: str) -> None: ...
    async def entries(self) -> dict[str, Entry]: ...
    async def sweep(self, before: float) -> int: ...


class Presence:
    """Who is online in one channel, as one backend keeps it (the reference of exercise 14).

    ``store``: the channel's ``ChannelEntries``; ``backend``: this backend's name, unique
    among the backends; ``ttl``: seconds an entry lives unless ``beat()`` refreshes it. The
    service calls ``arrive``/``leave`` around each connection of a logged-in user, ``beat``
    every ``ttl / 3``, one call at a time; ``online()`` from any request."""

    def __init__(self, store: ChannelEntries, backend: str, ttl: float) -> None:
        self.store, self.backend, self.ttl = store, backend, ttl
        self.connections: dict[str, int] = {}  # user -> connections open on this backend

    def key(self, user: str) -> str:
        """The entry's key: this backend's and this user's alone (``:`` is in neither name)."""
        return f"{self.backend}:{user}"

    async def _write(self, user: str) -> None:
        expires = time.time() + self.ttl  # wall clock: other backends compare it with theirs
        await self.store.put(self.key(user), user, self.connections[user], expires)

    async def arrive(self, user: str) -> None:
        self.connections[user] = self.connections.get(user, 0) + 1
        await self._write(user)

    async def leave(self, user: str) -> None:
        left = self.connections.get(user, 0) - 1
        if left > 0:
            self.connections[user] = left
            await self._write(user)
        else:  # the last one: the user leaves this backend's entries at once, not at expiry
            self.connections.pop(user, None)
            await self.store.drop(self.key(user))

    async def beat(self) -> None:
        for user in list(self.connections):
            await self._write(user)

    async def online(self) -> set[str]:
        now = time.time()
        held = await self.store.entries()
        return {entry.user for entry in held.values() if entry.count > 0 and entry.expires > now}


class _MemoryEntries:
    """One channel's entries in a ``MemoryPresenceStore``."""

    def __init__(self, table: dict[str, Entry]) -> None:
        self._table = table

    async def put(self, key: str, user: str, count: int, expires: float) -> None:
        await asyncio.sleep(0)  # as a store across the network would, let others run
        self._table[key] = Entry(user, int(count), float(expires))

    async def drop(self, key: str) -> None:
        await asyncio.sleep(0)
        self._table.pop(key, None)

    async def entries(self) -> dict[str, Entry]:
        await asyncio.sleep(0)
        return dict(self._table)

    async def sweep(self, before: float) -> int:
        gone = [key for key, entry in self._table.items() if entry.expires < before]
        for key in gone:
            del self._table[key]
        return len(gone)


class MemoryPresenceStore:
    """Every channel's entries in this process: apps given the same store share presence."""

    kind = "memory"

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Entry]] = {}

    def channel(self, name: str) -> _MemoryEntries:
        return _MemoryEntries(self._tables.setdefault(name, {}))

    async def close(self) -> None:
        pass


_SWEEP = """
local gone = 0
local held = redis.call('HGETALL', KEYS[1])
for i = 1, #held, 2 do
  local ok, entry = pcall(cjson.decode, held[i + 1])
  if not ok or type(entry) ~= 'table' or tonumber(entry[3]) == nil
     or tonumber(entry[3]) < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], held[i])
    gone = gone + 1
  end
end
return gone
"""
"""Remove a hash's entries that expired before ARGV[1] (and any that are not entries), in
one step: no backend's refresh can come between the read and the delete."""


class _RedisEntries:
    """One channel's entries: the Redis hash ``key``."""

    def __init__(self, store: RedisPresenceStore, key: str) -> None:
        self._store, self.hash = store, key

    async def put(self, key: str, user: str, count: int, expires: float) -> None:
        value = json.dumps([user, int(count), float(expires)])
        until = math.ceil((float(expires) + KEEP) * 1000)
        redis = self._store.redis
        async with self._store.unavailable_on_error(), redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.hash, key, value)
            pipe.pexpireat(self.hash, until, nx=True)  # a new hash: no expiry yet
            pipe.pexpireat(self.hash, until, gt=True)  # else only ever later
            await pipe.execute()

    async def drop(self, key: str) -> None:
        async with self._store.unavailable_on_error():
            await self._store.redis.hdel(self.hash, key)

    async def entries(self) -> dict[str, Entry]:
        async with self._store.unavailable_on_error():
            held = await self._store.redis.hgetall(self.hash)
        entries = {}
        for key, value in held.items():
            user, count, expires = json.loads(value)
            entries[key.decode()] = Entry(user, int(count), float(expires))
        return entries

    async def sweep(self, before: float) -> int:
        async with self._store.unavailable_on_error():
            return int(await self._store.sweep_script(keys=[self.hash], args=[before]))


class RedisPresenceStore:
    """Every channel's entries on the Redis at ``url``: a hash ``PREFIX:NAME`` per channel."""

    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "notify.presence") -> None:
        import redis.asyncio as redis

        self.url, self.prefix = url, prefix
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=TIMEOUT)
        self.sweep_script = self.redis.register_script(_SWEEP)

    def channel(self, name: str) -> _RedisEntries:
        return _RedisEntries(self, f"{self.prefix}:{name}")

    def unavailable_on_error(self):
        return _Unavailable(self.url)

    async def close(self) -> None:
        await self.redis.aclose()


class _Unavailable:
    """Redis's connection errors as ``BackplaneUnavailable``, as ``RedisBroker`` does."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind, error, traceback) -> bool:
        import redis

        if isinstance(error, redis.ConnectionError | redis.TimeoutError | OSError):
            raise BackplaneUnavailable(f"Redis at {self.url}: {error}") from None
        return False


_MEMORY_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def store_for(brokers: MemoryBrokers | RedisBrokers) -> MemoryPresenceStore | RedisPresenceStore:
    """The presence store beside a service's backplane: for ``RedisBrokers``, hashes on the
    same Redis (``PREFIX.presence:NAME``: no channel's keys start so); for ``MemoryBrokers``,
    one in-process store per ``MemoryBrokers``, so apps sharing channels share presence."""
    if isinstance(brokers, RedisBrokers):
        return RedisPresenceStore(brokers.url, prefix=f"{brokers.prefix}.presence")
    store = _MEMORY_STORES.get(brokers)
    if store is None:
        store = _MEMORY_STORES[brokers] = MemoryPresenceStore()
    return store
