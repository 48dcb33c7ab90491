"""The relay: from the backplane into one backend's feed, ids kept (lesson 10).

Subscribe, then catch up from the shared history, then apply every live post; after the
backplane goes away, the same again. ``RelayStatus`` tells a backend (``GET /backend``) and a
test whether the relay is on the backplane right now.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from servers.backplane.contract import BackplaneUnavailable, Broker
from servers.feed.model import Feed

RETRY = 0.5
"""Seconds the relay waits before subscribing again after the backplane went away."""

log = logging.getLogger(__name__)


class RelayStatus:
    """Where a relay is: ``subscribed`` (and caught up) now, and ``subscriptions``, how many
    times it has been so far; a restart of the backplane shows as the count going up."""

    def __init__(self) -> None:
        self.subscribed = False
        self.subscriptions = 0
        self.ready = asyncio.Event()
        """Set once the relay first subscribed and caught up."""

    def subscribed_and_caught_up(self) -> None:
        self.subscribed = True
        self.subscriptions += 1
        self.ready.set()

    def cut_off(self) -> None:
        self.subscribed = False

    def as_dict(self) -> dict:
        return {"subscribed": self.subscribed, "subscriptions": self.subscriptions}


async def relay(
    feed: Feed,
    broker: Broker,
    *,
    replay: bool = True,
    retry: float = RETRY,
    status: RelayStatus | None = None,
) -> None:
    """Apply every post the backplane delivers to ``feed``, keeping its id; runs until cancelled.

    Subscribe first, then (``replay``) catch up from the shared history after the newest id the
    feed holds: a post published in between is then delivered live, or read back, or both
    (``Feed.add`` ignores the second copy) — never neither. A live post that skips ids means
    some were missed: read them back first. When the backplane goes away, wait ``retry``
    seconds and do it all again. A message that is not a post is logged and skipped.
    With ``replay=False`` it is pure pub/sub: what was published while it was away is lost.
    ``status`` says, as it goes, whether it is subscribed and how many times it has been.

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
                    if status is not None:
                        status.subscribed_and_caught_up()
                    async for message in messages:
                        if replay and isinstance(message, dict) and _skips(feed, message):
                            _catch_up(feed, await broker.since(feed.last_id))
                        _apply(feed, message, live=True)
            except BackplaneUnavailable as error:
                if status is not None:
                    status.cut_off()
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
