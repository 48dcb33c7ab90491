"""What exercise 14's check sees of the learner's ``Presence`` (lesson 14).

Each backend of the check gets the shared store through ``Watched`` (its own view of it) and
the learner's class through ``Guarded``; both report to one ``Ledger``:

- every store call the learner's code makes, which of its methods made it, and whether it
  was ever run (a call made without ``await`` never is);
- misuse the store can tell at once: an ``expires`` that is not ``time.time() + ttl`` (a
  ``time.monotonic()`` reading means nothing to another backend), a key another backend
  wrote (the key lacks the backend), one key for two users (it lacks the user), a wrong type;
- what the learner's methods raised, returned in the wrong shape, how long they took
  (``beat()`` that never returns, a step that blocks the loop), and how many returned;
- which backends are ``dead``: a dead backend's code no longer runs and its writes never
  reach the store, as when its process is killed.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from servers.timing import scaled

METHODS = ("arrive", "leave", "beat", "online")
HANG = 3.0
"""Seconds (scaled) a learner's method may take before the check calls it hung."""
BLOCK = 0.5
"""Seconds (scaled) one step of a method may run without awaiting before it counts as
blocking the loop that every stream of the backend shares."""
_METHOD: contextvars.ContextVar[str] = contextvars.ContextVar("presence_method", default="?")


class Misuse(ValueError):
    """The learner's code used the store in a way the check names: ``name`` and ``facts``."""

    def __init__(self, name: str, **facts: Any) -> None:
        super().__init__(f"{name}: {facts}")
        self.name, self.facts = name, facts


class Hung(TimeoutError):
    """A learner's method that did not return in time."""


class BadOnline(TypeError):
    """``online()`` returned something that is not a set of user names."""


@dataclass
class Call:
    """One store call the learner's code made."""

    backend: str
    method: str
    op: str
    key: Any = None
    at: float = field(default_factory=time.monotonic)
    started: bool = False


@dataclass
class Ledger:
    """Everything the watchers saw, for the scenario to read."""

    ttl: float
    dead: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    writers: dict[Any, tuple[str, str]] = field(default_factory=dict)  # key -> (backend, user)
    misuse: list[Misuse] = field(default_factory=list)
    crashes: list[tuple[str, str, BaseException]] = field(default_factory=list)
    done: Counter = field(default_factory=Counter)  # (backend, method) -> returned

    def count(self, backend: str, method: str, op: str) -> int:
        return sum(c.backend == backend and c.method == method and c.op == op for c in self.calls)

    def unawaited(self, age: float = 0.3) -> list[Call]:
        """Store calls made ``age`` seconds ago or more and never run: made without ``await``."""
        cutoff = time.monotonic() - age
        return [c for c in self.calls if not c.started and c.at < cutoff]

    def misused(self, error: Misuse) -> Misuse:
        self.misuse.append(error)
        return error

    def check_put(self, backend: str, method: str, key, user, count, expires) -> None:
        if not (isinstance(key, str) and isinstance(user, str) and user):
            raise self.misused(Misuse("types", method=method, what=f"key={key!r}, user={user!r}"))
        if isinstance(count, bool) or not isinstance(count, int):
            raise self.misused(Misuse("types", method=method, what=f"count={count!r}"))
        if count < 1:  # kept in the store for ever, rewritten by each beat
            raise self.misused(Misuse("count_below_one", method=method, user=user, count=count))
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            raise self.misused(Misuse("types", method=method, what=f"expires={expires!r}"))
        now = time.time()
        if not math.isfinite(expires) or expires > now + self.ttl + scaled(1):
            raise self.misused(Misuse("far_expiry", method=method, expires=expires, now=now))
        if expires < now - 1e5:
            raise self.misused(Misuse("monotonic", method=method, expires=expires, now=now))
        if expires < now + self.ttl / 2:
            raise self.misused(Misuse("near_expiry", method=method, expires=expires, now=now))
        self._check_owner(backend, method, key, user)
        self.writers[key] = (backend, user)

    def check_drop(self, backend: str, method: str, key) -> None:
        if method in ("leave", "arrive", "beat"):
            self._check_owner(backend, method, key, None)
        if self.writers.get(key, ("",))[0] == backend:
            del self.writers[key]

    def _check_owner(self, backend: str, method: str, key, user) -> None:
        writer = self.writers.get(key)
        if writer is None:
            return
        if writer[0] != backend:
            raise self.misused(
                Misuse("shared_key", method=method, key=key, first=writer[0], then=backend)
            )
        if user is not None and writer[1] != user:
            raise self.misused(
                Misuse("user_not_in_key", method=method, key=key, first=writer[1], then=user)
            )


class WatchedEntries:
    """One channel's entries as one backend of the check reaches them."""

    def __init__(self, inner, backend: str, ledger: Ledger) -> None:
        self.inner, self.backend, self.ledger = inner, backend, ledger

    def _call(self, op: str, key=None) -> Call:
        call = Call(self.backend, _METHOD.get(), op, key)
        self.ledger.calls.append(call)
        return call

    def put(self, key: str, user: str, count: int, expires: float):
        return self._put(self._call("put", key), key, user, count, expires)

    async def _put(self, call: Call, key, user, count, expires) -> None:
        call.started = True
        self.ledger.check_put(self.backend, call.method, key, user, count, expires)
        if self.backend not in self.ledger.dead:
            await self.inner.put(key, user, count, expires)

    def drop(self, key: str):
        return self._drop(self._call("drop", key), key)

    async def _drop(self, call: Call, key) -> None:
        call.started = True
        self.ledger.check_drop(self.backend, call.method, key)
        if self.backend not in self.ledger.dead:
            await self.inner.drop(key)

    def entries(self):
        return self._entries(self._call("entries"))

    async def _entries(self, call: Call) -> dict:
        call.started = True
        return {} if self.backend in self.ledger.dead else await self.inner.entries()

    async def sweep(self, before: float) -> int:
        """The service's housekeeping, not the learner's: skipped, so that an entry the
        learner's ``online()`` should ignore is never removed for it."""
        return 0


class Watched:
    """The shared store as one backend of the check reaches it."""

    def __init__(self, inner, backend: str, ledger: Ledger) -> None:
        self.inner, self.backend, self.ledger = inner, backend, ledger

    def channel(self, name: str) -> WatchedEntries:
        return WatchedEntries(self.inner.channel(name), self.backend, self.ledger)


class Guarded:
    """The learner's ``Presence`` for one backend, each call watched."""

    def __init__(self, inner, backend: str, ledger: Ledger) -> None:
        self.inner, self.backend, self.ledger = inner, backend, ledger

    async def arrive(self, user: str) -> None:
        await self._run("arrive", user)

    async def leave(self, user: str) -> None:
        await self._run("leave", user)

    async def beat(self) -> None:
        await self._run("beat")

    async def online(self) -> set[str]:
        result = await self._run("online")
        if not (isinstance(result, set | frozenset) and all(isinstance(u, str) for u in result)):
            error = BadOnline(result)
            self.ledger.crashes.append((self.backend, "online", error))
            raise error
        return result

    async def _run(self, method: str, *args: str) -> Any:
        if self.backend in self.ledger.dead or self.ledger.misuse or self.ledger.crashes:
            return set()  # a dead process runs no code; after a fault the check stops soon
        token = _METHOD.set(method)
        try:
            stepped = _Stepped(
                getattr(self.inner, method)(*args), self.backend, method, self.ledger
            )
            result = await asyncio.wait_for(stepped.run(), scaled(HANG))
        except TimeoutError:
            self.ledger.crashes.append((self.backend, method, Hung(method)))
            raise
        except Exception as error:
            self.ledger.crashes.append((self.backend, method, error))
            raise
        finally:
            _METHOD.reset(token)
        self.ledger.done[self.backend, method] += 1
        return result


class _Stepped:
    """Runs a coroutine step by step, noting a step that kept the loop longer than ``BLOCK``."""

    def __init__(self, coroutine, backend: str, method: str, ledger: Ledger) -> None:
        self.coroutine, self.backend, self.method, self.ledger = coroutine, backend, method, ledger

    async def run(self) -> Any:
        return await self

    def _took(self, began: float) -> None:
        took = time.perf_counter() - began
        if took > scaled(BLOCK):
            self.ledger.misused(Misuse("blocking", method=self.method, took=took))

    def __await__(self):
        coroutine, value, error = self.coroutine, None, None
        while True:
            began = time.perf_counter()
            try:
                yielded = coroutine.throw(error) if error is not None else coroutine.send(value)
            except StopIteration as done:
                self._took(began)
                return done.value
            except BaseException:
                self._took(began)
                raise
            self._took(began)
            try:
                value, error = (yield yielded), None
            except BaseException as thrown:
                value, error = None, thrown
