"""What a backend needs from a backplane: the ``Broker`` contract (lesson 10).

Both brokers (``MemoryBroker``, ``RedisBroker``) implement every method, all of them async
(``subscribe`` returns an async context manager); the relay, the backends, the lesson's
helpers and exercise 10's checks use nothing else. Both are also ``OnceBroker``s (lesson 14's
service): ``publish_once(text, key)`` publishes a post under an idempotency key, once.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

HISTORY = 1000
"""Posts the shared history keeps (the newest)."""

KEYS_KEPT = 24 * 3600
"""Seconds a broker remembers an idempotency key (``publish_once``, lesson 14): 24 hours, as
Stripe's API does (stripe.com/docs/api/idempotent_requests)."""


class BackplaneUnavailable(ConnectionError):
    """The broker cannot be reached (it is down or restarting); try again later."""


def digest(text: str) -> str:
    """128 bits of ``text``'s SHA-256, in hex: what a broker keeps of an idempotency key and of
    the text published under it (lesson 14), so a key costs the same few bytes however long
    the key or the post, and no key a client chose becomes a name in Redis."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class KeyReused(ValueError):
    """``publish_once`` with a key already used for a post of another text, ``post_id``
    (draft-ietf-httpapi-idempotency-key-header: a key must not be reused with a different
    payload)."""

    def __init__(self, post_id: int) -> None:
        super().__init__(
            f"this idempotency key was already used for post {post_id}, whose text is not "
            "this one: send a new key with each new post, and the same key only when you send "
            "the same post again"
        )
        self.post_id = post_id


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


@runtime_checkable
class OnceBroker(Broker, Protocol):
    """A broker that can also publish under an idempotency key (lesson 14; both brokers are)."""

    async def publish_once(
        self, text: str, key: str, *, ts: float | None = None, keep: float = KEYS_KEPT
    ) -> tuple[dict, bool]:
        """``(post, False)`` after publishing ``text``; with a ``key`` seen within ``keep``
        seconds nothing is published and the answer is ``(the post published under it,
        True)``; ``KeyReused`` when that post's text is not ``text``. The lookup and the
        publish are one step: concurrent calls with one key publish once."""
