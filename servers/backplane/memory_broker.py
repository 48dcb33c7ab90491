"""The backplane in one process: ``MemoryBroker``, the fallback without Redis (lesson 10).

It keeps the ``Broker`` contract (``servers.backplane.contract``) for backends served in one
kernel; it cannot link processes. ``stop()`` and ``start()`` play a backplane restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

from servers.backplane.contract import (
    HISTORY,
    KEYS_KEPT,
    BackplaneUnavailable,
    KeyReused,
    digest,
)


class MemoryBroker:
    """A broker in this process: the fallback when ``redis-server`` is missing (lesson 10).

    The ``Broker`` contract, as ``RedisBroker``; subscribers may sit on any event loop.
    ``stop()`` and ``start()`` play a backplane restart: every subscription is cut, publishing
    fails while it is down, and the history survives (as Redis's would with persistence or a
    replica); ``start(keep_data=False)`` comes back with no history, no idempotency keys and the
    counter at 0, as a Redis without persistence does. While it is down, ``subscribe`` and
    ``since`` yield to the event loop once before they raise, as a refused connection would: a
    relay retrying without a pause burns CPU but does not freeze every other task on its loop.
    """

    def __init__(self, *, history: int = HISTORY, first_id: int = 1) -> None:
        self._lock = threading.Lock()
        self._history: deque[dict] = deque(maxlen=history)
        self._last_id = first_id - 1
        self._subscribers: set[_MemorySubscription] = set()
        self._keys: OrderedDict[str, tuple[int, float, str, float]] = OrderedDict()
        """digest(key) -> (post id, its ts, digest(text), when the key expires)"""
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
            post = self._publish(text, ts)
            receivers = len(self._subscribers)
        return dict(post), receivers

    async def publish_once(
        self, text: str, key: str, *, ts: float | None = None, keep: float = KEYS_KEPT
    ) -> tuple[dict, bool]:
        """``publish`` under an idempotency key (lesson 14): ``(post, False)`` the first time;
        with the same ``key`` again within ``keep`` seconds nothing is published and the
        answer is ``(the first post, True)``; ``KeyReused`` if that post's text is not
        ``text``. Looking the key up and publishing are one step, as in ``RedisBroker``."""
        with self._lock:
            self._raise_if_down()
            now = time.monotonic()
            while self._keys and next(iter(self._keys.values()))[-1] <= now:
                self._keys.popitem(last=False)  # expired keys go, the oldest first
            held = self._keys.get(digest(key))
            if held is not None and held[-1] > now:
                post_id, post_ts, text_digest, _ = held
                if text_digest != digest(text):
                    raise KeyReused(post_id)
                return {"id": post_id, "text": text, "ts": post_ts}, True
            post = self._publish(text, ts)
            self._keys[digest(key)] = (post["id"], post["ts"], digest(text), now + keep)
        return dict(post), False

    async def count_subscribers(self) -> int:
        """Subscriptions open right now (as ``RedisBroker.count_subscribers``)."""
        return self.subscribers

    async def inject(self, message: Any) -> None:
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
                self._keys.clear()
                self._last_id = 0
            self._up = True

    async def close(self) -> None:
        pass

    def _publish(self, text: str, ts: float | None) -> dict:
        """Number, keep and deliver a post; the caller holds the lock."""
        self._last_id += 1
        post = {"id": self._last_id, "text": text, "ts": time.time() if ts is None else ts}
        self._history.append(post)
        for subscription in self._subscribers:
            subscription.deliver(dict(post))
        return post

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
