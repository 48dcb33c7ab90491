"""Where exercise 10's scenario runs, and the broker that stages its races (lesson 10).

``Backplane()`` is the in-process ``MemoryBroker``; ``RedisBackplane(executable)`` a fresh
``redis-server`` of its own. Both number from ``FIRST_ID`` and can be cut and restored.
``Staged(broker)`` wraps either, through the ``Broker`` contract alone (no private state).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from servers.backplane import BackplaneUnavailable, Broker, MemoryBroker, RedisBroker

FIRST_ID = 101
"""The backplane's first id, as one that has been running a while: a post renumbered by a
backend's own feed (1, 2, 3...) stands out."""


class Staged:
    """A ``Broker`` around a real one that stages what the checks need: each message
    delivered ``delay`` seconds late; while ``racing``, a post published just before and one
    just after each history read; and, while ``closed``, every subscribe and history read
    refused (after a turn of the loop, as a refused connection), counted in ``refused``."""

    def __init__(self, inner: Broker, *, delay: float = 0.0, racing: bool = False) -> None:
        self.inner, self.delay, self.racing = inner, delay, racing
        self.closed, self.refused = False, 0
        self.doubled: list[dict] = []
        self.slipped: list[dict] = []

    async def publish(self, text: str, *, ts: float | None = None) -> dict:
        return await self.inner.publish(text, ts=ts)

    async def publish_counting(self, text: str, *, ts: float | None = None) -> tuple[dict, int]:
        return await self.inner.publish_counting(text, ts=ts)

    async def count_subscribers(self) -> int:
        return await self.inner.count_subscribers()

    async def inject(self, message: Any) -> None:
        await self.inner.inject(message)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Any]]:
        await self._refuse_if_closed()
        async with self.inner.subscribe() as messages:
            yield _Late(messages, self.delay) if self.delay else messages

    async def since(self, post_id: int) -> list[dict]:
        await self._refuse_if_closed()
        if self.racing:
            self.doubled.append(
                await self.inner.publish(f"published as a catch-up began {post_id}")
            )
        posts = await self.inner.since(post_id)
        if self.racing:
            self.slipped.append(await self.inner.publish(f"slipped in during a catch-up {post_id}"))
        return posts

    async def close(self) -> None:
        await self.inner.close()

    async def _refuse_if_closed(self) -> None:
        if self.closed:
            self.refused += 1
            await asyncio.sleep(0)
            raise BackplaneUnavailable("the backplane is down (the check restarts it)")


class _Late:
    def __init__(self, messages: AsyncIterator[Any], delay: float) -> None:
        self._messages, self._delay = messages, delay

    def __aiter__(self) -> _Late:
        return self

    async def __anext__(self) -> Any:
        message = await self._messages.__anext__()
        await asyncio.sleep(self._delay)
        return message


class Backplane:
    """The broker the scenario runs on, and how to take it down and bring it back."""

    label = "the in-process MemoryBroker"

    def __init__(self) -> None:
        self.broker: Broker = MemoryBroker(first_id=FIRST_ID)

    async def cut(self) -> None:
        self.broker.stop()

    async def restore(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        """After the scenario (and ``broker.close()`` on its loop)."""


class RedisBackplane(Backplane):
    """A fresh ``redis-server`` (the one at ``executable``), counter set to start at 101."""

    def __init__(self, executable: str) -> None:
        from servers.redis_server import RedisServer

        self.server = RedisServer(executable=executable).start()
        self.server.command("SET", "check-10:last_id", str(FIRST_ID - 1))
        self.broker = RedisBroker(self.server.url, prefix="check-10")
        self.label = f"Redis ({executable})"

    async def cut(self) -> None:
        await asyncio.to_thread(self.server.stop, keep_data=True)

    async def restore(self) -> None:
        await asyncio.to_thread(self.server.start)
        for _ in range(100):  # a read re-opens the connections the restart closed
            with contextlib.suppress(BackplaneUnavailable):
                await self.broker.since(0)
                return
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.server.stop()
