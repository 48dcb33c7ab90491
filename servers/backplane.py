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

**Ids only rise.** A backplane that loses its counter (Redis restarted without persistence)
numbers new posts from 1 again, ids every running feed has passed: ``Feed.add`` would drop them
all. The relay logs each such post as an error, and ``publish_through`` refuses to answer 201
for a post its own backend cannot show (``IdsWentBack``, a 500 that says so).

**A failed publish may have happened.** Redis may have run the script before the connection
broke, so a publish is never retried by the client (only a connection is re-opened), and a
``BackplaneUnavailable`` from ``publish`` means "may not have been published".
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
KEEPALIVE = 5.0
"""Seconds of quiet on a Redis subscription before the relay PINGs; no answer within as long
again means a dead (half-open) connection: subscribe again."""
TIMEOUT = 5.0
"""Seconds a Redis command, or a subscription's confirmation, may take before the backplane
counts as unavailable."""

log = logging.getLogger(__name__)


class BackplaneUnavailable(ConnectionError):
    """The broker cannot be reached (it is down or restarting); try again later."""


class IdsWentBack(RuntimeError):
    """The backplane numbered a new post with an id this backend already passed: it lost its
    counter (Redis restarted without its data), and no running feed will show the post."""


class Broker(Protocol):
    """What a backend needs from a backplane (lesson 10)."""

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        """Number the post, keep it in the shared history and deliver it to every subscriber.
        ``BackplaneUnavailable``: the post may not have been published."""

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
    is down, and the history survives (as Redis's would with persistence or a replica);
    ``start(keep_data=False)`` comes back with no history and the counter at 0, as a Redis
    without persistence does. While it is down, ``subscribe`` and ``since`` yield to the event
    loop once before they raise, as a refused connection would: a relay retrying without a
    pause burns CPU but does not freeze every other task on its loop.
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
        return (await self.publish_counting(text, ts=ts))[0]

    async def publish_counting(self, text: str, *, ts: float | None = None) -> tuple[dict, int]:
        """``publish``, and how many subscribers the post reached (Redis: PUBLISH's answer)."""
        with self._lock:
            self._raise_if_down()
            self._last_id += 1
            post = {"id": self._last_id, "text": text, "ts": time.time() if ts is None else ts}
            self._history.append(post)
            for subscription in self._subscribers:
                subscription.deliver(dict(post))
            receivers = len(self._subscribers)
        return dict(post), receivers

    async def count_subscribers(self) -> int:
        """Subscriptions open right now (as ``RedisBroker.count_subscribers``)."""
        return self.subscribers

    def inject(self, message: Any) -> None:
        """Deliver ``message`` as it is, unnumbered and unrecorded: a faulty publisher."""
        with self._lock:
            for subscription in self._subscribers:
                subscription.deliver(message)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Any]]:
        subscription = _MemorySubscription(asyncio.get_running_loop())
        with self._lock:
            up = self._up
            if up:
                self._subscribers.add(subscription)
        if not up:
            await self._refuse()
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscribers.discard(subscription)

    async def since(self, post_id: int) -> list[dict]:
        with self._lock:
            if self._up:
                return [dict(p) for p in self._history if p["id"] > post_id]
        await self._refuse()

    def stop(self) -> None:
        """The backplane goes down: every subscription is cut."""
        with self._lock:
            self._up = False
            for subscription in self._subscribers:
                subscription.deliver(_CUT)
            self._subscribers.clear()

    def start(self, *, keep_data: bool = True) -> None:
        """The backplane is back, history and counter intact (``keep_data=False``: both lost,
        as on a Redis without persistence); relays must subscribe again."""
        with self._lock:
            if not keep_data:
                self._history.clear()
                self._last_id = 0
            self._up = True

    async def close(self) -> None:
        pass

    def _raise_if_down(self) -> None:
        if not self._up:
            raise BackplaneUnavailable("the in-process backplane is down")

    async def _refuse(self) -> None:
        await asyncio.sleep(0)  # like a refused connection, it takes a turn of the loop
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
local receivers = redis.call('PUBLISH', KEYS[3], post)
return {post, receivers}
"""
"""Number, keep and publish in one script: Redis runs it atomically, so no other post can
come between a post's INCR and its PUBLISH, and delivery order is id order. It answers with
the post and how many subscribers PUBLISH reached."""


class RedisBroker:
    """Redis pub/sub as the backplane (lesson 10): ``RedisBroker("redis://127.0.0.1:6379")``.

    Keys (prefix ``feed``): ``feed:last_id`` the counter, ``feed:history`` a list of the newest
    ``history`` posts as JSON, channel ``feed:posts``. Use it from one event loop.

    No command is retried: the client only re-opens a pooled connection that Redis closed (a
    restart), before sending anything. A command or a subscription confirmation that takes
    longer than ``timeout`` seconds, and a subscription quiet for ``keepalive`` seconds that
    then does not answer a PING within as long again (a half-open connection), raise
    ``BackplaneUnavailable``.
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
        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=timeout,
            # No retry: a script that was sent may have run, and running it again would publish
            # the post twice. (A pooled connection that Redis closed is re-opened by the pool
            # before anything is sent on it.)
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_PUBLISH)

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        return (await self.publish_counting(text, ts=ts))[0]

    async def publish_counting(self, text: str, *, ts: float | None = None) -> tuple[dict, int]:
        """``publish``, and how many subscribers the post reached (PUBLISH's answer)."""
        body = compact_json({"text": text, "ts": time.time() if ts is None else ts})
        keys = [self.counter, self.history_key, self.channel]
        async with self._unavailable_on_error():
            post, receivers = await self._script(keys=keys, args=[body, self.history])
        return json.loads(post), int(receivers)

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

    Logged as errors: a live post with an id the feed has passed that is not the post it holds
    (the backplane lost its counter: the post is dropped), and any other error that ends the
    relay. Logged as a warning: a catch-up whose history no longer reaches back to the feed's
    newest post (away longer than the history holds: those posts are gone for this backend).
    """
    try:
        while True:
            try:
                async with broker.subscribe() as messages:
                    if replay:
                        _catch_up(feed, await broker.since(feed.last_id))
                    if ready is not None:
                        ready.set()
                    async for message in messages:
                        if replay and isinstance(message, dict) and _skips(feed, message):
                            _catch_up(feed, await broker.since(feed.last_id))
                        _apply(feed, message, live=True)
            except BackplaneUnavailable as error:
                log.info("backplane unavailable (%s); subscribing again in %s s", error, retry)
                await asyncio.sleep(retry)
    except Exception:
        log.exception("the relay stopped: this backend receives no more posts")
        raise


def _skips(feed: Feed, message: dict) -> bool:
    return type(message.get("id")) is int and message["id"] > feed.last_id + 1


def _apply(feed: Feed, message: Any, *, live: bool = False) -> None:
    try:
        added = feed.add(message)
    except ValueError as error:
        log.warning("skipped a message that is not a post: %s", error)
        return
    if not added and live and not _holds(feed, message):
        log.error(
            "dropped post %d (%r): this feed is already at id %d with other posts. The "
            "backplane's ids went back: it lost its counter (Redis restarted without its "
            "data?). New posts will not reach this backend's clients until the backplane's "
            "data is restored or the backends restart.",
            message["id"], message["text"][:40], feed.last_id,
        )  # fmt: skip


def _catch_up(feed: Feed, posts: list[dict]) -> None:
    if posts and feed.last_id and posts[0]["id"] > feed.last_id + 1:
        first, last = feed.last_id + 1, posts[0]["id"] - 1
        gone = f"post {first} is" if first == last else f"posts {first} to {last} are"
        log.warning(
            "%s no longer in the shared history: this backend's clients will never get them",
            gone,
        )
    for post in posts:
        _apply(feed, post)


def _holds(feed: Feed, post: dict) -> bool:
    """Whether ``feed`` holds this very post (same id, text and time), not just its id."""
    held = feed.since(post["id"] - 1)[:1]
    return bool(held) and held[0] == {
        "id": post["id"],
        "text": post["text"],
        "ts": float(post["ts"]),
    }


# --- a backend on the backplane ---------------------------------------------------------------


async def publish_through(feed: Feed, broker: Broker, text: str) -> dict:
    """Publish through the backplane; answer once this backend's own feed holds the post, so
    a client that posts and then reads the same backend sees its post (read-your-writes).

    ``IdsWentBack`` when the backplane gave the post an id this feed had already passed before
    publishing: the relay drops it, and the client must not be told it worked."""
    passed = feed.last_id
    post = await broker.publish(text, ts=time.time())
    if post["id"] <= passed:
        raise IdsWentBack(
            f"the backplane numbered this post {post['id']}, but this backend already holds "
            f"posts up to {passed}: the backplane lost its counter (Redis restarted without "
            "its data?). The post is in the backplane, but no backend that was running will "
            "show it: restore the backplane's data, or restart the backends."
        )
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
                text=f"the backplane is unavailable; the post may not have been published: {error}"
            ) from None
        except IdsWentBack as error:
            raise web.HTTPInternalServerError(text=str(error)) from None

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
