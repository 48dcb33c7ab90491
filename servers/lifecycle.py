"""The one registry of everything a lesson starts, stopped at exit (lesson 00).

Every long-lived thing the course starts — a server on the background loop, the loop itself,
a tethered process (nginx, the fallback balancer, a backend, Redis), a TLS server, a load
generator's child — is kept here while it runs, so that:

- re-running a cell is safe: ``keep(thing, name=...)`` first stops the thing of the same kind
  (class) and name that an earlier run left running;
- nothing outlives the interpreter: ``stop_all()`` runs once at exit (one ``atexit`` for the
  whole course) and stops what is left, newest first, so a server stops before the loop it
  runs on;
- a test can ask what is running: ``kept(kind)``.

A kept thing has a ``stop()`` that is safe to call twice and calls ``forget(self)``.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    def stop(self) -> object: ...


T = TypeVar("T", bound=Stoppable)

_lock = threading.RLock()
_kept: list[Stoppable] = []  # oldest first
_names: dict[tuple[type, object], Stoppable] = {}


def keep(thing: T, *, name: object = None) -> T:
    """Register ``thing`` (something with ``.stop()``) until it is forgotten; return it.

    With a ``name``, the thing of the same class kept under that name is stopped first (its
    ``stop()`` runs before this returns, outside the registry's lock).
    """
    previous = None
    if name is not None:
        with _lock:
            previous = _names.get((type(thing), name))
    if previous is not None and previous is not thing:
        previous.stop()
        forget(previous)
    with _lock:
        if name is not None:
            _names[(type(thing), name)] = thing
        if not any(kept is thing for kept in _kept):
            _kept.append(thing)
    return thing


def forget(thing: Stoppable) -> None:
    """Drop ``thing`` from the registry (its ``stop()`` calls this); safe if never kept."""
    with _lock:
        _kept[:] = [kept for kept in _kept if kept is not thing]
        for key in [key for key, kept in _names.items() if kept is thing]:
            del _names[key]


def kept(kind: type | None = None) -> list:
    """What is kept now, oldest first; only instances of ``kind`` if given."""
    with _lock:
        return [thing for thing in _kept if kind is None or isinstance(thing, kind)]


def stop_all() -> None:
    """Stop everything kept, newest first; one failing ``stop()`` does not stop the others."""
    for thing in reversed(kept()):
        try:
            thing.stop()
        except Exception:  # at exit, a half-dead thing must not keep the rest running
            log.exception("stopping %r failed", thing)
        forget(thing)


atexit.register(stop_all)
