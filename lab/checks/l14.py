"""Checks for exercise 14: presence, who is online in a channel (lesson 14).

``check_14_presence(Presence)`` runs the learner's class inside three real notification-service
apps (``lab.checks.presence_run``) on the in-process presence store, then again on a real
Redis when ``redis-server`` is installed (in CI it must be), with real SSE and WebSocket
clients. What goes wrong comes back as a symptom; ``MISTAKES`` turns each into the mistake
that causes it and a hint, in the exercise's terms (``arrive``, ``leave``, ``beat``,
``online``, the store's ``put``/``drop``/``entries``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from lab.checks.core import (
    CheckFailed,
    expect,
    not_written,
    passed,
    quiet_server_log,
    require_async,
    short,
)
from lab.checks.l14_mistakes import EXERCISE, MISTAKES, explain
from lab.checks.presence_run import Scene, Symptom
from lab.checks.presence_watch import HANG, METHODS, Guarded, Hung, Ledger, Watched
from servers import runtime
from servers.notify import MemoryBrokers, RedisBrokers
from servers.notify.presence import MemoryPresenceStore, RedisPresenceStore
from servers.system import real_part
from servers.timing import scaled

TTL = 1.0
"""Seconds (scaled) the check's entries live: short, so a dead backend's users go quickly."""
CHECK_TIMEOUT = 60


def check_14_presence(presence_class: Any) -> None:
    """Exercise 14.1: ``Presence(store, backend, ttl)`` with ``arrive``, ``leave``, ``beat``
    and ``online``, run by three real service backends on one store."""
    expect(
        isinstance(presence_class, type),
        EXERCISE,
        f"pass the class itself, got {short(presence_class)}.",
        "call `checks.check_14_presence(Presence)`, not `Presence(...)`.",
    )
    for method in METHODS:
        expect(
            callable(getattr(presence_class, method, None)),
            EXERCISE,
            f"Presence has no method {method}().",
            "keep the four methods of the exercise's cell: arrive, leave, beat, online.",
        )
        signature = (
            f"Presence.{method}({'self, user' if method in ('arrive', 'leave') else 'self'})"
        )
        require_async(EXERCISE, getattr(presence_class, method), signature, "it awaits the store.")
    _probe(presence_class)
    where = _everywhere(presence_class)
    passed(
        EXERCISE,
        f"on {where}, three backends listed exactly the users with a connection open: a user "
        "on b1 seen from b2, two tabs on one backend and on two (one closed), a last tab "
        "closed, connections held for 2.5 ttl, and a killed backend whose users dropped out "
        "within the ttl while one who reconnected elsewhere stayed listed.",
    )


def _probe(presence_class) -> None:
    """Call each method once on a store of its own: a method not written yet, a constructor
    that fails and a method that never returns are named here, before any backend starts."""
    ledger = Ledger(scaled(30))
    store = Watched(MemoryPresenceStore(), "probe", ledger)

    async def attempt() -> None:
        try:
            inner = presence_class(store.channel("probe"), "probe", scaled(30))
        except Exception as error:
            raise Symptom("crash", backend="probe", method="__init__", error=error) from None
        presence = Guarded(inner, "probe", ledger)
        calls = [("arrive", ("probe",)), ("online", ()), ("beat", ()), ("leave", ("probe",))]
        for method, args in calls:
            try:
                await getattr(presence, method)(*args)
            except NotImplementedError:
                raise not_written(EXERCISE, f"Presence.{method}") from None
            except Exception:
                return  # the scenario explains it, in context

    try:
        runtime.run(attempt(), timeout=scaled(HANG) * 4 + 5)
    except Symptom as symptom:
        raise explain(symptom, "") from None
    except TimeoutError:
        raise explain(Symptom("timed_out"), "", limit=scaled(HANG) * 4) from None
    hung = [(method, error) for _, method, error in ledger.crashes if isinstance(error, Hung)]
    if hung:
        raise explain(Symptom("crash", backend="probe", method=hung[0][0], error=hung[0][1]), "")


def _everywhere(presence_class) -> str:
    """Run the scenario in memory, then on Redis if it is installed; where it ran."""
    redis = real_part("redis-server")  # MissingPart in CI
    labels = ["the in-process store"]
    _run(presence_class, MemoryPresenceStore(), MemoryBrokers(), "")
    if redis.real:
        from servers.redis_server import RedisServer

        with RedisServer(executable=redis.path) as server:
            store = RedisPresenceStore(server.url, prefix="check14.presence")
            try:
                _run(presence_class, store, RedisBrokers(server.url, prefix="check14"), "Redis")
            finally:
                runtime.run(store.close(), timeout=10)
        labels.append("a real Redis")
    return " and on ".join(labels) + ("" if redis.real else f" ({redis.note})")


def _run(presence_class, store, brokers, where: str) -> None:
    ttl = scaled(TTL)
    scene = Scene(presence_class, store, brokers, ttl)
    limit = scaled(CHECK_TIMEOUT)

    async def run() -> None:
        try:
            await asyncio.wait_for(scene.run(), limit)
        except TimeoutError:
            raise Symptom("timed_out") from None

    try:
        with quiet_server_log(), _quiet_presence_log():
            runtime.run(run(), timeout=limit + 10)
    except TimeoutError:
        raise explain(Symptom("timed_out"), where, limit=limit) from None
    except Symptom as symptom:
        raise explain(symptom, where, ttl=ttl, limit=limit) from None


class _quiet_presence_log:
    """The service logs a failed presence call; the check explains it instead."""

    def __enter__(self) -> None:
        import logging

        self.logger = logging.getLogger("servers.notify.presence")
        self.saved = self.logger.disabled
        self.logger.disabled = True

    def __exit__(self, *exc: object) -> None:
        self.logger.disabled = self.saved


__all__ = ["MISTAKES", "CheckFailed", "check_14_presence"]
