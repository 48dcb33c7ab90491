"""Redis pub/sub as the backplane: ``RedisBroker`` (lesson 10).

It keeps the ``Broker`` contract (``servers.backplane.contract``) for backends in separate
processes: ids from ``INCR``, the shared history a list, delivery by ``PUBLISH``, all three in
one script (for ``publish_once``, lesson 14, the idempotency key too). ``connect(url)`` makes
one from a ``redis://`` URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from servers.backplane.contract import (
    HISTORY,
    KEYS_KEPT,
    BackplaneUnavailable,
    Broker,
    KeyReused,
    digest,
)
from servers.http import compact_json

KEEPALIVE = 5.0
"""Seconds of quiet on a Redis subscription before the relay PINGs; no answer within as long
again means a dead (half-open) connection: subscribe again."""
TIMEOUT = 5.0
"""Seconds a Redis command, or a subscription's confirmation, may take before the backplane
counts as unavailable."""

_PUBLISH = """
local id = redis.call('INCR', KEYS[1])
local post = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], post)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local receivers = redis.call('PUBLISH', KEYS[3], post)
return {post, receivers}
"""
"""Number, keep and publish in one script: Redis runs it atomically, so no other post can
come between a post's INCR and its PUBLISH, and delivery order is id order. It answers with
the post and how many subscribers PUBLISH reached."""

_PUBLISH_ONCE = """
local seen = redis.call('GET', KEYS[4])
if seen then return {seen, -1} end
local id = redis.call('INCR', KEYS[1])
local post = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], post)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local receivers = redis.call('PUBLISH', KEYS[3], post)
local kept = '{"id":' .. id .. ',"ts":' .. ARGV[5] .. ',"sha":"' .. ARGV[4] .. '"}'
redis.call('SET', KEYS[4], kept, 'EX', ARGV[3])
return {post, receivers}
"""
"""``_PUBLISH`` under an idempotency key (lesson 14), KEYS[4] the key's digest: a key seen before
answers what was kept of its post (id, ts, the text's digest) and -1, publishing nothing; else
the post is published and that is kept under the key for ARGV[3] seconds. One script, so no
failure and no concurrent retry can come between publishing a post and remembering its key."""


class RedisBroker:
    """Redis pub/sub as the backplane (lesson 10): ``RedisBroker("redis://127.0.0.1:6379")``.

    Keys (prefix ``feed``): ``feed:last_id`` the counter, ``feed:history`` a list of the newest
    ``history`` posts as JSON, channel ``feed:posts``, and ``feed:once:DIGEST`` what is kept of a
    post published under an idempotency key (``publish_once``: its id, ts, and text's digest).
    Use it from one event loop.

    No command is retried (a script that was sent may have run). The client cannot tell that
    a pooled connection was closed by Redis (a restart) until a command fails on it, so the
    first error drops every idle pooled connection: after a restart one command fails (the
    relay's, which sees its subscription cut), not one per connection the pool held. A
    command or a subscription confirmation that takes longer than ``timeout`` seconds, and a
    subscription quiet for ``keepalive`` seconds that then does not answer a PING within as
    long again (a half-open connection), raise ``BackplaneUnavailable``.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "feed",
        history: int = HISTORY,
        timeout: float = TIMEOUT,
        keepalive: float = KEEPALIVE,
    ) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.history = history
        self.timeout, self.keepalive = timeout, keepalive
        self.counter, self.history_key, self.channel = (
            f"{prefix}:last_id",
            f"{prefix}:history",
            f"{prefix}:posts",
        )
        self.prefix = prefix
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=timeout,
            # No retry: a script that was sent may have run, and running it again would publish
            # the post twice.
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_PUBLISH)
        self._once_script = self._redis.register_script(_PUBLISH_ONCE)

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        return (await self.publish_counting(text, ts=ts))[0]

    async def publish_counting(self, text: str, *, ts: float | None = None) -> tuple[dict, int]:
        """``publish``, and how many subscribers the post reached (PUBLISH's answer)."""
        body = compact_json({"text": text, "ts": time.time() if ts is None else ts})
        keys = [self.counter, self.history_key, self.channel]
        async with self._unavailable_on_error():
            post, receivers = await self._script(keys=keys, args=[body, self.history])
        return json.loads(post), int(receivers)

    async def publish_once(
        self, text: str, key: str, *, ts: float | None = None, keep: float = KEYS_KEPT
    ) -> tuple[dict, bool]:
        """``publish`` under an idempotency key (lesson 14), as ``MemoryBroker.publish_once``:
        the key lives in Redis (``PREFIX:once:KEY``, expiring after ``keep`` seconds), so every
        backend on this Redis answers a repeated key with the same post."""
        ts = time.time() if ts is None else ts
        body = compact_json({"text": text, "ts": ts})
        keys = [self.counter, self.history_key, self.channel, f"{self.prefix}:once:{digest(key)}"]
        args = [body, self.history, max(1, round(keep)), digest(text), json.dumps(ts)]
        async with self._unavailable_on_error():
            raw, receivers = await self._once_script(keys=keys, args=args)
        if int(receivers) >= 0:
            return json.loads(raw), False
        kept = json.loads(raw)
        if kept["sha"] != digest(text):
            raise KeyReused(kept["id"])
        return {"id": kept["id"], "text": text, "ts": kept["ts"]}, True

    async def count_subscribers(self) -> int:
        """Subscriptions to the channel right now (``PUBSUB NUMSUB``)."""
        async with self._unavailable_on_error():
            [(_, count)] = await self._redis.pubsub_numsub(self.channel)
        return int(count)

    async def inject(self, message: Any) -> None:
        """Publish ``message`` as it is, unnumbered and unrecorded: a faulty publisher."""
        raw = message if isinstance(message, str | bytes) else json.dumps(message)
        async with self._unavailable_on_error():
            await self._redis.publish(self.channel, raw)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Any]]:
        pubsub = self._redis.pubsub()
        try:
            async with self._unavailable_on_error():
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)  # from here on, every PUBLISH reaches us
            yield _RedisMessages(pubsub, self)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def since(self, post_id: int) -> list[dict]:
        async with self._unavailable_on_error():
            held = await self._redis.lrange(self.history_key, 0, -1)
        posts = [json.loads(raw) for raw in held]
        return [p for p in posts if p["id"] > post_id]

    async def close(self) -> None:
        await self._redis.aclose()

    async def _confirmed(self, pubsub) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (remaining := deadline - loop.time()) > 0:
            message = await pubsub.get_message(timeout=remaining)
            if message is not None and message["type"] == "subscribe":
                return
        raise BackplaneUnavailable(
            f"Redis at {self.url} did not confirm the subscription within {self.timeout:g} s"
        )

    @contextlib.asynccontextmanager
    async def _unavailable_on_error(self):
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            with contextlib.suppress(Exception):  # the idle ones are as dead: open fresh ones
                await self._redis.connection_pool.disconnect(inuse_connections=False)
            raise BackplaneUnavailable(f"Redis at {self.url}: {error}") from None

    def __repr__(self) -> str:
        return f"<RedisBroker {self.url}>"


class _RedisMessages:
    """Messages on a subscription; PINGs Redis after ``keepalive`` quiet seconds, and gives up
    on a connection that does not answer within as long again."""

    def __init__(self, pubsub, broker: RedisBroker) -> None:
        self._pubsub, self._broker = pubsub, broker
        self._pinged = False

    def __aiter__(self) -> _RedisMessages:
        return self

    async def __anext__(self) -> Any:
        keepalive = self._broker.keepalive
        async with self._broker._unavailable_on_error():
            while True:
                message = await self._pubsub.get_message(timeout=keepalive)
                if message is None:  # quiet: is Redis still there?
                    if self._pinged:
                        raise BackplaneUnavailable(
                            f"Redis at {self._broker.url} did not answer a PING within "
                            f"{keepalive:g} s: the connection is dead"
                        )
                    await self._pubsub.ping()
                    self._pinged = True
                    continue
                self._pinged = False  # anything at all, a pong included, proves it alive
                if message["type"] == "message":
                    return _decode(message["data"])


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return data  # a faulty publisher's message: the relay decides what to do with it


def connect(url: str, **options: Any) -> Broker:
    """A broker for ``url``: ``redis://host:port`` (``memory://`` cannot link processes)."""
    if urlsplit(url).scheme in ("redis", "rediss"):
        return RedisBroker(url, **options)
    raise ValueError(f"not a backplane URL: {url!r}; expected redis://host:port")
