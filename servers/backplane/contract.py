"""What a backend needs from a backplane: the ``Broker`` contract (lesson 10).

Both brokers (``MemoryBroker``, ``RedisBroker``) implement every method, all of them async
(``subscribe`` returns an async context manager); the relay, the backends, the lesson's
helpers and exercise 10's checks use nothing else. Both also have ``publish_once(text, key)``
(lesson 14's service), outside the contract: a post under an idempotency key, published once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

HISTORY = 1000
"""Posts the shared history keeps (the newest)."""


class BackplaneUnavailable(ConnectionError):
    """The broker cannot be reached (it is down or restarting); try again later."""


KEYS_KEPT = 24 * 3600
"""Seconds a broker remembers an idempotency key (``publish_once``, lesson 14): 24 hours, as
Stripe's API does (stripe.com/docs/api/idempotent_requests)."""


class KeyReused(ValueError):
    """``publish_once`` with a key already used for a post of another text: ``post`` is that
    post (draft-ietf-httpapi-idempotency-key-header: a key must not be reused with a different
    payload)."""

    def __init__(self, key: str, post: dict) -> None:
        super().__init__(
            f"this idempotency key was already used for post {post['id']}, whose text is not "
            "this one: send a new key with each new post, and the same key only when you send "
            "the same post again"
        )
        self.key, self.post = key, post


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
