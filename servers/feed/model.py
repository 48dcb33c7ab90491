"""The feed itself: posts with rising ids, a bounded history, waiters woken (lesson 00).

``Feed`` knows nothing of HTTP: ``servers.feed.app`` serves it, one route module per
transport. ``PostNotTaken`` is how a feed says a post could not be taken for a reason other
than its text (lesson 10: a backplane that is down); the HTTP edge turns it into a status.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_TEXT = 1000
"""Longest post text accepted, in characters."""


class PostNotTaken(RuntimeError):
    """``submit`` could not take a post, for a reason that is not its text.

    ``temporary``: the cause may pass (try again later; HTTP says 503), else it is a fault
    someone must fix (500). The message says whether the post may have been published.
    """

    temporary = False


class Feed:
    """Posts ``{"id", "text", "ts"}`` with ids rising from 1, the newest ``history`` kept.

    ``publish`` may be called from any thread: a notebook cell on the main thread, a handler on
    the servers' loop.
    """

    lags = 0.0
    """Seconds this feed may trail the place that numbers its posts: none, it numbers them."""

    def __init__(self, *, history: int = 1000, max_text: int = MAX_TEXT) -> None:
        if history < 1:
            raise ValueError("history must hold at least one post")
        self.max_text = max_text
        self._posts: deque[dict] = deque(maxlen=history)
        self._last_id = 0
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future, bool]] = set()
        self._listeners: dict[int, list] = {}  # key: [loop, callback, wake-up scheduled]
        self._keys = iter(range(1, 1 << 62))
        self._parked = [0, 0]  # streams, sockets parked in a listener (lesson 11)

    def publish(self, text: str) -> dict:
        """Add a post and return it. ``ValueError`` says why a text is refused."""
        self.check_text(text)
        with self._lock:
            self._last_id += 1
            post = {"id": self._last_id, "text": text, "ts": time.time()}
            self._append(post)
        return dict(post)

    async def submit(self, text: str) -> dict:
        """``publish`` as the handlers call it, on the servers' loop. A feed fed by a pub/sub
        backplane (``servers.backplane.BackplaneFeed``, lesson 10) sends the text through the
        backplane instead, which numbers the post for every backend. ``ValueError``: the text
        is refused; ``PostNotTaken``: the post could not be taken now."""
        return self.publish(text)

    def add(self, post: dict) -> bool:
        """Insert a post numbered elsewhere (a backplane's relay, lesson 10), keeping its id.

        Ids only rise: a post whose id is not above ``last_id`` is already held (or too late)
        and is ignored, returning False. Waiters are woken as by ``publish``. ``ValueError``
        for anything that is not a post ``{"id": int >= 1, "text": str, "ts": number}``.
        """
        if not (
            isinstance(post, dict)
            and type(post.get("id")) is int
            and post["id"] >= 1
            and isinstance(post.get("text"), str)
            and isinstance(post.get("ts"), int | float)
            and not isinstance(post.get("ts"), bool)
        ):
            raise ValueError(f'not a post {{"id", "text", "ts"}}: {post!r:.120}')
        with self._lock:
            if post["id"] <= self._last_id:
                return False
            self._last_id = post["id"]
            self._append({"id": post["id"], "text": post["text"], "ts": float(post["ts"])})
        return True

    def check_text(self, text: object) -> None:
        """``ValueError`` saying why a text cannot be published, if it cannot."""
        if not isinstance(text, str):
            raise ValueError(f'"text" must be a string, got {type(text).__name__}')
        if not text.strip():
            raise ValueError('"text" is empty')
        if len(text) > self.max_text:
            raise ValueError(f'"text" has {len(text)} characters; the limit is {self.max_text}')

    def _append(self, post: dict) -> None:
        """Hold ``post`` and wake every waiter (the lock held; the wake-ups are scheduled)."""
        self._posts.append(post)
        waiters, self._waiters = self._waiters, set()
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for loop, future, _ in waiters:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():  # one cross-thread wake-up per loop, not per waiter
            loop.call_soon_threadsafe(_wake_all, futures)
        for listener in self._listeners.values():
            if not listener[2]:  # a burst of posts wakes a listener once
                listener[2] = True
                listener[0].call_soon_threadsafe(self._call, listener)

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` on the running loop soon after new posts (lesson 11's
        broadcaster, ``servers.fanout``): one call for a burst, however many posts or streams.
        The callback reads what is new itself (``since``). Returns the function that stops it."""
        key, listener = next(self._keys), [asyncio.get_running_loop(), callback, False]
        with self._lock:
            self._listeners[key] = listener

        def stop() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return stop

    def _call(self, listener: list) -> None:
        with self._lock:
            listener[2] = False
        listener[1]()

    def park(self, change: int = 1, *, for_socket: bool = False) -> None:
        """Count ``change`` streams (or, ``for_socket``, WebSockets) as waiting for posts
        without a wait of their own: a listener serves them (lesson 11)."""
        with self._lock:
            self._parked[for_socket] += change

    async def wait_for_posts(
        self, since: int, timeout: float, *, for_socket: bool = False
    ) -> list[dict]:
        """The posts after ``since`` as soon as there are any; ``[]`` after ``timeout`` seconds.

        The heart of long polling (lesson 02). Awaitable on any event loop, woken from whichever
        thread publishes; a cancelled wait (a client that went away) leaves nothing behind.
        ``for_socket``: the wait of a WebSocket's push loop (counted apart in
        ``sockets_waiting``, so that lesson 09's ``GET /backend`` counts a socket once).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._lock:
                if self._last_id > since:
                    return self._after(since)
                waiter = (loop, loop.create_future(), for_socket)
                self._waiters.add(waiter)
            try:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                await asyncio.wait_for(waiter[1], remaining)
            except TimeoutError:
                return []
            finally:
                with self._lock:
                    self._waiters.discard(waiter)

    @property
    def history(self) -> int:
        """How many posts the feed keeps (the newest)."""
        return self._posts.maxlen

    @property
    def waiting(self) -> int:
        """How many ``wait_for_posts`` calls are parked right now (long polls, streams, and
        WebSockets' push loops), and the streams and sockets ``park``ed in a listener."""
        return len(self._waiters) + self._parked[0] + self._parked[1]

    @property
    def sockets_waiting(self) -> int:
        """How many of ``waiting`` are WebSockets' push loops (``for_socket``)."""
        with self._lock:
            return sum(for_socket for _, _, for_socket in self._waiters) + self._parked[1]

    def since(self, post_id: int) -> list[dict]:
        """The posts after ``post_id`` still in the history, oldest first."""
        return self.read(post_id)[0]

    def read(self, post_id: int) -> tuple[list[dict], str]:
        """``since(post_id)`` and a version tag of the history, taken together.

        The tag (the ids of the oldest and newest posts held) changes whenever any answer to
        ``since`` could; reading both under one lock means the tag always describes the posts.
        """
        with self._lock:
            posts = self._after(post_id)
            oldest = self._posts[0]["id"] if self._posts else 0
            return posts, f"{oldest}-{self._last_id}"

    def _after(self, post_id: int) -> list[dict]:
        """Copies of the held posts after ``post_id`` (the lock held), read from the right end
        of the history: ids rise, so the scan stops at the first one not after ``post_id``.
        (Ids are consecutive unless a relay skipped some, lesson 10.)"""
        newer = []
        for post in reversed(self._posts):
            if post["id"] <= post_id:
                break
            newer.append(dict(post))
        newer.reverse()
        return newer

    @property
    def oldest_id(self) -> int:
        """The oldest post still held, 0 before the first post."""
        with self._lock:
            return self._posts[0]["id"] if self._posts else 0

    @property
    def last_id(self) -> int:
        """The newest post's id, 0 before the first post."""
        return self._last_id

    def __len__(self) -> int:
        return len(self._posts)

    def __repr__(self) -> str:
        return f"<Feed {len(self)} posts, last id {self.last_id}>"


def _wake_all(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
