"""A backend on the backplane: its feed, how it publishes, and joining an app (lesson 10).

``attach(app, broker)`` swaps a feed app's ``Feed`` for a ``BackplaneFeed`` and runs the relay
while the app serves. A post that cannot be taken raises a domain error (``BackplaneDown``,
``IdsWentBack``: both ``PostNotTaken``); the HTTP edge makes them 503 and 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from servers.backplane.contract import BackplaneUnavailable, Broker, OnceBroker
from servers.backplane.redis_broker import connect
from servers.backplane.relaying import RETRY, RelayStatus, relay
from servers.feed.app import FEED
from servers.feed.model import Feed, PostNotTaken


class BackplaneDown(PostNotTaken):
    """A post submitted while the backplane cannot be reached: it may have been published."""

    temporary = True


class IdsWentBack(PostNotTaken):
    """The backplane numbered a new post with an id this backend already passed: it lost its
    counter (Redis restarted without its data), and no running feed will show the post."""


class LocalPublish(RuntimeError):
    """``feed.publish`` on a backplane's feed, from its own loop: a post numbered locally."""


async def publish_through(feed: Feed, broker: Broker, text: str) -> dict:
    """Publish through the backplane; answer once this backend's own feed holds the post, so
    a client that posts and then reads the same backend sees its post (read-your-writes).

    ``IdsWentBack`` when the backplane gave the post an id this feed had already passed before
    publishing: the relay drops it, and the client must not be told it worked.
    ``BackplaneUnavailable`` from the broker passes through."""
    passed = feed.last_id
    post = await broker.publish(text, ts=time.time())
    return await _held(feed, post, passed)


async def publish_once_through(
    feed: Feed, broker: OnceBroker, text: str, key: str
) -> tuple[dict, bool]:
    """``publish_through`` under an idempotency key (lesson 14): ``(post, replayed)``. A key the
    broker has seen publishes nothing and answers the post published under it, ``replayed``
    True (``KeyReused`` if that post's text is not ``text``), checked as a new post is: it is
    answered once this feed holds it, and ``IdsWentBack`` if this feed shows another post
    under its id (the first try got that 500 too: the backplane's counter went back)."""
    passed = feed.last_id
    post, replayed = await broker.publish_once(text, key, ts=time.time())
    if not replayed:
        return await _held(feed, post, passed), False
    await feed.wait_for_posts(post["id"] - 1, 2.0)
    shown = [p for p in feed.since(post["id"] - 1)[:1] if p["id"] == post["id"]]
    if shown and (shown[0]["text"], shown[0]["ts"]) != (post["text"], post["ts"]):
        raise IdsWentBack(
            f"this retry's idempotency key names post {post['id']}, but this backend shows "
            "another post under that id: the backplane lost its counter (Redis restarted "
            "without its data?), and no backend that was running will show the post."
        )
    return post, True


async def _held(feed: Feed, post: dict, passed: int) -> dict:
    """``post`` once ``feed`` holds it; ``IdsWentBack`` if its id is not past ``passed``."""
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

    lags = 2.0
    """Its relay may trail the broker, which numbered the posts, by a moment: a client back
    from another backend with a newer id is given this long before the feed calls it a reset."""

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
        """Through the backplane with ``publisher``; ``BackplaneDown`` when it cannot be
        reached (the post may have been published), ``IdsWentBack`` when its ids went back."""
        self.check_text(text)
        with _down_when_unavailable():
            return await self.publisher(self, self.broker, text)

    async def submit_once(self, text: str, key: str) -> tuple[dict, bool]:
        """``submit`` under an idempotency key (lesson 14): ``(post, replayed)``, through
        ``publish_once_through`` (never through ``publisher``, which knows no keys), on a
        broker that is a ``OnceBroker``."""
        self.check_text(text)
        with _down_when_unavailable():
            return await publish_once_through(self, self.broker, text, key)

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


@contextlib.contextmanager
def _down_when_unavailable():
    """``BackplaneUnavailable`` from the broker, as the domain's ``BackplaneDown``."""
    try:
        yield
    except BackplaneUnavailable as error:
        raise BackplaneDown(
            f"the backplane is unavailable; the post may not have been published: {error}"
        ) from None


RELAY = web.AppKey("backplane_relay", asyncio.Task)
RELAY_STATUS = web.AppKey("backplane_relay_status", RelayStatus)
"""The course's relay's ``RelayStatus`` (absent with ``relay_with``): ``GET /backend`` shows it."""


def attach(
    app: web.Application,
    broker: Broker,
    *,
    replay: bool = True,
    retry: float = RETRY,
    relay_with: Callable[[Feed, Broker], Awaitable[None]] | None = None,
    publisher: Callable[[Feed, Broker, str], Awaitable[dict]] = publish_through,
) -> BackplaneFeed:
    """Put a feed app on the backplane: its feed becomes a ``BackplaneFeed``, and a relay task
    runs while the app serves. The server starts answering once the relay has subscribed and
    caught up (``retry``: seconds its relay pauses before subscribing again). ``relay_with``
    replaces the relay (exercise 10); returns the new feed."""
    feed = BackplaneFeed(broker, publisher=publisher, history=app[FEED].history)
    app[FEED] = feed
    if relay_with is None:
        status = app[RELAY_STATUS] = RelayStatus()

    async def relaying(app: web.Application):
        feed.loop = asyncio.get_running_loop()
        if relay_with is not None:
            task = asyncio.ensure_future(relay_with(feed, broker))
        else:
            task = asyncio.ensure_future(
                relay(feed, broker, replay=replay, retry=retry, status=status)
            )
            waiting = asyncio.ensure_future(status.ready.wait())  # subscribed and caught up
            await asyncio.wait([waiting, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        app[RELAY] = task
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
