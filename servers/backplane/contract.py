"""What a backend needs from a backplane: the ``Broker`` contract (lesson 10).

Both brokers (``MemoryBroker``, ``RedisBroker``) implement every method, all of them async
(``subscribe`` returns an async context manager); the relay, the backends, the lesson's
helpers and exercise 10's checks use nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

HISTORY = 1000
"""Posts the shared history keeps (the newest)."""


class BackplaneUnavailable(ConnectionError):
    """The broker cannot be reached (it is down or restarting); try again later."""


@runtime_checkable
class Broker(Protocol):
    """A pub/sub backplane that numbers posts, keeps the newest and delivers them (lesson 10)."""

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        """Number the post, keep it in the shared history and deliver it to every subscriber.
        ``BackplaneUnavailable``: the post may not have been published."""

    async def publish_counting(self, text: str, *, ts: float | None = None) -> tuple[dict, int]:
        """``publish``, and how many subscribers the post reached (Redis: PUBLISH's answer)."""

    async def count_subscribers(self) -> int:
        """Subscriptions open right now (Redis: ``PUBSUB NUMSUB``)."""

    async def inject(self, message: Any) -> None:
        """Deliver ``message`` as it is, unnumbered and unrecorded: a faulty publisher."""

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]:
        """Subscribed on enter; yields every message published from then on (a post, or
        whatever a faulty publisher sent); raises ``BackplaneUnavailable`` when cut off."""

    async def since(self, post_id: int) -> list[dict]:
        """The posts after ``post_id`` still in the shared history, oldest first."""

    async def close(self) -> None:
        """Release connections."""
