"""A pub/sub backplane between feed backends, and the relay that joins one to it (lesson 10).

Several backends behind a balancer each hold their own clients. A post taken by one backend
must reach the clients of all of them, so every backend publishes what it takes to a shared
**broker** and relays what the broker delivers into its own feed. One interface, two brokers:

- ``RedisBroker(url)``: Redis pub/sub, for backends in separate processes (``python -m
  servers.backend --backplane redis://127.0.0.1:PORT``);
- ``MemoryBroker()``: the same interface in one process, for machines without
  ``redis-server``. It cannot link processes: backends sharing one run in the same kernel.

A broker does three things::

    post = await broker.publish(text, ts=...)     # numbers the post, keeps it, fans it out
    async with broker.subscribe() as posts:       # subscribed from here on
        async for post in posts: ...              # every post published from now on
    await broker.since(post_id)                   # the shared history after post_id

**Ids are the broker's.** Each backend's ``Feed`` numbers its own posts from 1, so two
backends would give different posts the same id, and ``Last-Event-ID`` would mean nothing on
another backend. With a backplane the broker numbers every post (Redis: ``INCR`` in the same
script that stores and publishes it, so ids and delivery order agree) and backends insert
posts with ``Feed.add(post)``, which keeps the id. A backend never adds the posts it takes
itself: they come back through the backplane like everyone else's, in the one order.

**Pub/sub is at-most-once.** A message published while a subscriber is away is gone for that
subscriber. So the relay subscribes first, then reads what it missed from the shared history
(``since``), and does that again after every reconnection: ``relay(feed, broker)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from servers.feed import FEED, Feed
from servers.http import compact_json

HISTORY = 1000
"""Posts the shared history keeps (the newest)."""
RETRY = 0.5
"""Seconds the relay waits before subscribing again after the backplane went away."""

log = logging.getLogger(__name__)


class BackplaneUnavailable(ConnectionError):
    """The broker cannot be reached (it is down or restarting); try again later."""


class Broker(Protocol):
    """What a backend needs from a backplane (lesson 10)."""

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        """Number the post, keep it in the shared history and deliver it to every subscriber."""

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]:
        """Subscribed on enter; yields every message published from then on (a post, or
        whatever a faulty publisher sent); raises ``BackplaneUnavailable`` when cut off."""

    async def since(self, post_id: int) -> list[dict]:
        """The posts after ``post_id`` still in the shared history, oldest first."""

    async def close(self) -> None:
        """Release connections."""


# --- in one process ---------------------------------------------------------------------------


class MemoryBroker:
    """A broker in this process: the fallback when ``redis-server`` is missing (lesson 10).

    Same interface as ``RedisBroker``; subscribers may sit on any event loop. ``stop()`` and
    ``start()`` play a backplane restart: every subscription is cut, publishing fails while it
    is down, and the history survives (as Redis's would with persistence or a replica).
    """

    def __init__(self, *, history: int = HISTORY, first_id: int = 1) -> None:
        self._lock = threading.Lock()
        self._history: deque[dict] = deque(maxlen=history)
        self._last_id = first_id - 1
        self._subscribers: set[_MemorySubscription] = set()
        self._up = True

    @property
    def subscribers(self) -> int:
        """Subscriptions open right now (Redis: ``PUBSUB NUMSUB``)."""
        return len(self._subscribers)

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def up(self) -> bool:
        return self._up

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        with self._lock:
            self._raise_if_down()
            self._last_id += 1
            post = {"id": self._last_id, "text": text, "ts": time.time() if ts is None else ts}
            self._history.append(post)
            for subscription in self._subscribers:
                subscription.deliver(dict(post))
        return dict(post)

    def inject(self, message: Any) -> None:
        """Deliver ``message`` as it is, unnumbered and unrecorded: a faulty publisher."""
        with self._lock:
            for subscription in self._subscribers:
                subscription.deliver(message)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Any]]:
        subscription = _MemorySubscription(asyncio.get_running_loop())
        with self._lock:
            self._raise_if_down()
            self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscribers.discard(subscription)

    async def since(self, post_id: int) -> list[dict]:
        with self._lock:
            self._raise_if_down()
            return [dict(p) for p in self._history if p["id"] > post_id]

    def stop(self) -> None:
        """The backplane goes down: every subscription is cut."""
        with self._lock:
            self._up = False
            for subscription in self._subscribers:
                subscription.deliver(_CUT)
            self._subscribers.clear()

    def start(self) -> None:
        """The backplane is back, history and counter intact; relays must subscribe again."""
        self._up = True

    async def close(self) -> None:
        pass

    def _raise_if_down(self) -> None:
        if not self._up:
            raise BackplaneUnavailable("the in-process backplane is down")

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"<MemoryBroker {state}, last id {self._last_id}, {self.subscribers} subscribers>"


_CUT = object()


class _MemorySubscription:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()

    def deliver(self, message: Any) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)  # keeps the order

    def __aiter__(self) -> _MemorySubscription:
        return self

    async def __anext__(self) -> Any:
        message = await self._queue.get()
        if message is _CUT:
            raise BackplaneUnavailable("the in-process backplane went down")
        return message


# --- Redis ------------------------------------------------------------------------------------

_PUBLISH = """
local id = redis.call('INCR', KEYS[1])
local post = '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], post)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PUBLISH', KEYS[3], post)
return post
"""
"""Number, keep and publish in one script: Redis runs it atomically, so no other post can
come between a post's INCR and its PUBLISH, and delivery order is id order."""


class RedisBroker:
    """Redis pub/sub as the backplane (lesson 10): ``RedisBroker("redis://127.0.0.1:6379")``.

    Keys (prefix ``feed``): ``feed:last_id`` the counter, ``feed:history`` a list of the newest
    ``history`` posts as JSON, channel ``feed:posts``. Use it from one event loop.
    """

    def __init__(self, url: str, *, prefix: str = "feed", history: int = HISTORY) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.history = history
        self.counter, self.history_key, self.channel = (
            f"{prefix}:last_id",
            f"{prefix}:history",
            f"{prefix}:posts",
        )
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 1),  # one retry: a pooled connection may predate a restart
        )
        self._script = self._redis.register_script(_PUBLISH)

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        body = compact_json({"text": text, "ts": time.time() if ts is None else ts})
        keys = [self.counter, self.history_key, self.channel]
        async with self._unavailable_on_error():
            post = await self._script(keys=keys, args=[body, self.history])
        return json.loads(post)

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
                while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                    pass  # the confirmation: from here on, every PUBLISH reaches us
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

    @contextlib.asynccontextmanager
    async def _unavailable_on_error(self):
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            raise BackplaneUnavailable(f"Redis at {self.url}: {error}") from None

    def __repr__(self) -> str:
        return f"<RedisBroker {self.url}>"


class _RedisMessages:
    def __init__(self, pubsub, broker: RedisBroker) -> None:
        self._pubsub, self._broker = pubsub, broker

    def __aiter__(self) -> _RedisMessages:
        return self

    async def __anext__(self) -> Any:
        async with self._broker._unavailable_on_error():
            while True:
                message = await self._pubsub.get_message(timeout=None)
                if message is not None and message["type"] == "message":
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


# --- the relay --------------------------------------------------------------------------------


async def relay(
    feed: Feed,
    broker: Broker,
    *,
    replay: bool = True,
    retry: float = RETRY,
    ready: asyncio.Event | None = None,
) -> None:
    """Apply every post the backplane delivers to ``feed``, keeping its id; runs until cancelled.

    Subscribe first, then (``replay``) catch up from the shared history after the newest id the
    feed holds: a post published in between is then delivered live, or read back, or both
    (``Feed.add`` ignores the second copy) — never neither. A live post that skips ids means
    some were missed: read them back first. When the backplane goes away, wait ``retry``
    seconds and do it all again. A message that is not a post is logged and skipped.
    With ``replay=False`` it is pure pub/sub: what was published while it was away is lost.
    """
    while True:
        try:
            async with broker.subscribe() as messages:
                if replay:
                    _apply_all(feed, await broker.since(feed.last_id))
                if ready is not None:
                    ready.set()
                async for message in messages:
                    if replay and isinstance(message, dict) and _skips(feed, message):
                        _apply_all(feed, await broker.since(feed.last_id))
                    _apply(feed, message)
        except BackplaneUnavailable as error:
            log.info("backplane unavailable (%s); subscribing again in %s s", error, retry)
            await asyncio.sleep(retry)


def _skips(feed: Feed, message: dict) -> bool:
    return type(message.get("id")) is int and message["id"] > feed.last_id + 1


def _apply(feed: Feed, message: Any) -> None:
    try:
        feed.add(message)
    except ValueError as error:
        log.warning("skipped a message that is not a post: %s", error)


def _apply_all(feed: Feed, posts: list[dict]) -> None:
    for post in posts:
        _apply(feed, post)


# --- a backend on the backplane ---------------------------------------------------------------


async def publish_through(feed: Feed, broker: Broker, text: str) -> dict:
    """Publish through the backplane; answer once this backend's own feed holds the post, so
    a client that posts and then reads the same backend sees its post (read-your-writes)."""
    post = await broker.publish(text, ts=time.time())
    await feed.wait_for_posts(post["id"] - 1, 2.0)
    return post


class BackplaneFeed(Feed):
    """A backend's feed when it is on a backplane (lesson 10): written only by the relay.

    ``submit`` (what ``POST /posts`` and ``/ws`` call) sends the text through the broker with
    ``publisher`` (default ``publish_through``); the post reaches this feed, like every other
    backend's, through the relay. ``publish`` does the same from another thread (a cell).
    """

    def __init__(
        self,
        broker: Broker,
        *,
        publisher: Callable[[Feed, Broker, str], Awaitable[dict]] = publish_through,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.broker, self.publisher = broker, publisher
        self.loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, text: str) -> dict:
        self.check_text(text)
        try:
            return await self.publisher(self, self.broker, text)
        except BackplaneUnavailable as error:
            raise web.HTTPServiceUnavailable(
                text=f"the backplane is unavailable, the post was not published: {error}"
            ) from None

    def publish(self, text: str) -> dict:
        """From a cell (another thread): ``submit`` on the servers' loop, and the post back.
        On the servers' loop it refuses: a feed on a backplane is written only by its relay."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self.loop:
            raise LocalPublish(
                "feed.publish would number this post locally, apart from the backplane: "
                "publish with `await broker.publish(text)`, and add relayed posts, id kept, "
                "with feed.add(post)"
            )
        if self.loop is None:
            raise RuntimeError("this feed's relay is not running yet: start its server first")
        return asyncio.run_coroutine_threadsafe(self.submit(text), self.loop).result(10)


class LocalPublish(RuntimeError):
    """``feed.publish`` on a backplane's feed, from its own loop: a post numbered locally."""


RELAY = web.AppKey("backplane_relay", asyncio.Task)


def attach(
    app: web.Application,
    broker: Broker,
    *,
    replay: bool = True,
    relay_with: Callable[[Feed, Broker], Awaitable[None]] | None = None,
    publisher: Callable[[Feed, Broker, str], Awaitable[dict]] = publish_through,
) -> BackplaneFeed:
    """Put a feed app on the backplane: its feed becomes a ``BackplaneFeed``, and a relay task
    runs while the app serves. The server starts answering once the relay has subscribed and
    caught up. ``relay_with`` replaces the relay (exercise 10); returns the new feed."""
    old = app[FEED]
    feed = BackplaneFeed(broker, publisher=publisher, history=old._posts.maxlen)
    app[FEED] = feed
    run = relay_with or functools.partial(relay, replay=replay)

    async def relaying(app: web.Application):
        feed.loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        task = asyncio.ensure_future(
            run(feed, broker) if relay_with else run(feed, broker, ready=ready)
        )
        app[RELAY] = task
        if relay_with is None:  # wait for the subscription and the catch-up
            waiting = asyncio.ensure_future(ready.wait())
            await asyncio.wait([waiting, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.cleanup_ctx.append(relaying)
    return feed


def join(app: web.Application, url: str, *, replay: bool = True) -> BackplaneFeed:
    """``attach`` to the broker at ``url``, closing its connections when the app stops
    (``python -m servers.backend --backplane URL``)."""
    broker = connect(url)
    feed = attach(app, broker, replay=replay)

    async def close(app: web.Application) -> None:
        await broker.close()

    app.on_cleanup.append(close)
    return feed
