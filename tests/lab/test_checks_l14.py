"""Exercise 14's check: a right ``Presence`` passes, on memory and on Redis, and each typical
mistake is named (lesson 14)."""

from __future__ import annotations

import asyncio
import time

import pytest
from checks_support import assert_named, assert_passes, failure_of

from lab import checks
from servers import runtime, system
from servers.notify.presence import Presence as Reference
from servers.timing import scaled


class Right:
    """A right solution, written as a learner would (no helper methods, counts kept in a dict
    of its own): the check runs the class it is given, never the reference."""

    def __init__(self, store, backend, ttl):
        self.store, self.backend, self.ttl = store, backend, ttl
        self.connections = {}

    async def arrive(self, user):
        self.connections[user] = self.connections.get(user, 0) + 1
        key = f"{self.backend}/{user}"
        await self.store.put(key, user, self.connections[user], time.time() + self.ttl)

    async def leave(self, user):
        self.connections[user] -= 1
        key = f"{self.backend}/{user}"
        if self.connections[user] == 0:
            del self.connections[user]
            await self.store.drop(key)
        else:
            await self.store.put(key, user, self.connections[user], time.time() + self.ttl)

    async def beat(self):
        for user, count in self.connections.items():
            await self.store.put(f"{self.backend}/{user}", user, count, time.time() + self.ttl)

    async def online(self):
        now = time.time()
        entries = await self.store.entries()
        return {e.user for e in entries.values() if e.count > 0 and e.expires > now}


class ForgetsTabs(Reference):  # a set of users: the first close drops the user
    async def leave(self, user):
        self.connections.pop(user, None)
        await self.store.drop(self.key(user))


class UserKey(Reference):  # per-user entries without the backend: backends overwrite
    def key(self, user):
        return user


class BackendKey(Reference):  # per-backend entries without the user
    def key(self, user):
        return self.backend


class NoExpiry(Reference):  # a dead backend's users stay online for ever
    async def online(self):
        return {e.user for e in (await self.store.entries()).values() if e.count > 0}


class LocalOnly(Reference):  # never looks at the shared store
    async def online(self):
        return set(self.connections)


class NoBeat(Reference):  # users expire while connected
    async def beat(self):
        pass


class StaleBeat(Reference):  # beat writes the expiry of the arrival again
    async def arrive(self, user):
        self.first = getattr(self, "first", {})
        self.first.setdefault(user, time.time() + self.ttl)
        await super().arrive(user)

    async def beat(self):
        for user, count in self.connections.items():
            await self.store.put(self.key(user), user, count, self.first[user])


class Monotonic(Reference):  # works in one process, means nothing to another machine
    async def _write(self, user):
        expires = time.monotonic() + self.ttl
        await self.store.put(self.key(user), user, self.connections[user], expires)

    async def online(self):
        now = time.monotonic()
        return {e.user for e in (await self.store.entries()).values() if e.expires > now}


class Milliseconds(Reference):
    async def _write(self, user):
        expires = time.time() + self.ttl * 1000
        await self.store.put(self.key(user), user, self.connections[user], expires)


class ZeroKept(Reference):  # leave writes count 0, online lists it anyway
    async def leave(self, user):
        self.connections[user] -= 1
        await self._write(user)
        if self.connections[user] == 0:
            del self.connections[user]

    async def online(self):
        return {e.user for e in (await self.store.entries()).values() if e.expires > time.time()}


class ZeroLeftBehind(ZeroKept):  # online skips count 0, but every closed tab stays in the store
    async def online(self):
        return await Reference.online(self)


class DropsOnlyStale(Reference):  # last close just stops refreshing: the user stays a whole ttl
    async def leave(self, user):
        self.connections[user] -= 1
        if self.connections[user] == 0:
            del self.connections[user]
        else:
            await self._write(user)


class Unawaited(Reference):
    async def _write(self, user):
        self.store.put(self.key(user), user, self.connections[user], time.time() + self.ttl)


class Blocking(Reference):
    async def beat(self):
        time.sleep(scaled(0.8))  # the check's bound is scaled(0.5)
        await super().beat()


class BeatLoops(Reference):  # beat() as the heartbeat itself: it never returns
    async def beat(self):
        while True:
            await super().beat()
            await asyncio.sleep(self.ttl / 3)


class ListOnline(Reference):
    async def online(self):
        return sorted(await super().online())


class KeyErrorOnLeave(Reference):
    async def leave(self, user):
        self.connections[user] -= 1
        if self.connections[user] == 0:
            del self.connections[user]
        await self._write(user)


@pytest.mark.parametrize("solution", [Right, Reference], ids=["a learner's", "the reference"])
def test_a_right_presence_passes_on_memory_and_on_redis_when_it_is_there(solution, capsys):
    out = assert_passes(checks.check_14_presence, solution, exercise="14.1", capsys=capsys)
    assert ("and on a real Redis" in out) == system.real_part("redis-server").real


@pytest.mark.parametrize(
    ("mistake", "says"),
    [
        (ForgetsTabs, "bob had two tabs open on b2 and closed one"),
        (UserKey, "two backends share one key"),
        (BackendKey, "every user of a backend shares one key"),
        (NoExpiry, "an entry no backend refreshes any more must stop counting"),
        (LocalOnly, "it never read the store"),
        (NoBeat, "their entries expired. The service had called beat()"),
        (StaleBeat, "beat() must push the expiry forward"),
        (Monotonic, "time.monotonic() counts from an arbitrary start"),
        (Milliseconds, "more than the ttl"),
        (ZeroKept, "Presence.leave() wrote carol's entry with count 0"),
        (ZeroLeftBehind, "an entry for no connection stays in the store"),
        (DropsOnlyStale, "bob closed his last tab, on b2, yet online() on b1 still lists ['bob']"),
        (Unawaited, "called self.store.put(...) without `await`"),
        (Blocking, "Presence.beat() ran"),
        (BeatLoops, "Presence.beat() did not return within"),
        (ListOnline, "online() returned ['alice'], not a set of user names"),
        (KeyErrorOnLeave, "Presence.leave() on b3 raised KeyError: 'carol'"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
def test_each_typical_mistake_gets_a_message_naming_it(mistake, says):
    assert_named(checks.check_14_presence, mistake, exercise="14.1", says=says, hint=True)


def test_a_crash_is_shown_at_the_learners_line():
    message = failure_of(checks.check_14_presence, KeyErrorOnLeave)
    assert "await self._write(user)" in message, message


def test_the_blank_exercise_is_not_written_yet_naming_the_first_method():
    class Presence:
        def __init__(self, store, backend, ttl):
            self.store, self.backend, self.ttl = store, backend, ttl

        async def arrive(self, user):
            raise NotImplementedError()

        async def leave(self, user):
            raise NotImplementedError()

        async def beat(self):
            raise NotImplementedError()

        async def online(self):
            raise NotImplementedError()

    message = failure_of(checks.check_14_presence, Presence, match="not written yet")
    assert "Presence.arrive()" in message and "Hint:" in message


def test_a_method_left_blank_after_the_others_is_named():
    class NoOnline(Reference):
        async def online(self):
            raise NotImplementedError()

    failure_of(checks.check_14_presence, NoOnline, match=r"Presence\.online\(\) is not written")


def test_a_constructor_that_fails_is_named_before_any_backend_starts():
    class Renamed(Reference):
        def __init__(self, store, name, ttl, extra):
            super().__init__(store, name, ttl)

    message = failure_of(checks.check_14_presence, Renamed, match=r"Presence\.__init__\(\)")
    assert "TypeError" in message and "extra" in message, message


def test_plain_methods_and_an_instance_are_told_what_to_pass():
    class Plain(Reference):
        def beat(self):
            pass

    failure_of(checks.check_14_presence, Plain, match=r"`Presence\.beat\(self\)` must be an `async")
    failure_of(checks.check_14_presence, Reference(None, "b", 1.0), match="pass the class itself")


def test_the_check_leaves_no_server_and_no_task_behind():
    failure_of(checks.check_14_presence, NoExpiry)
    assert not [s for s in runtime.running_servers() if s.name and "check-14" in s.name]
    assert runtime.pending_tasks() == []
