"""What exercise 14's check says for each symptom: the learner's mistake and a hint (lesson 14).

``lab.checks.presence_run`` raises a ``Symptom`` (a name and the facts seen); ``explain``
turns it into the message of ``MISTAKES``, in the exercise's terms: ``arrive``, ``leave``,
``beat``, ``online``, and the store's ``put``, ``drop`` and ``entries``.
"""

from __future__ import annotations

from typing import Any

from lab.checks.core import CheckFailed, fail, learner_line, not_written, short
from lab.checks.presence_run import Symptom
from lab.checks.presence_watch import HANG, BadOnline, Hung
from servers.timing import scaled

EXERCISE = "14.1"
KEY = 'put the backend in the key, and the user: `f"{self.backend}:{user}"`, so each backend '
KEY += "writes and removes only its own entries."
FRESH = "`time.time() + self.ttl`, computed at each write"
LISTS = (
    "online() reads every backend's entries (`await self.store.entries()`) and keeps the users "
    "of those with `entry.count > 0 and entry.expires > time.time()`."
)

MISTAKES: dict[str, tuple[str, str]] = {
    "local_only": (
        "alice opened a stream on b1, yet online() on b2 answered {got_s}: it never read the "
        "store (no `self.store.entries()`), so it knows only the connections of its own backend.",
        LISTS,
    ),
    "seen_elsewhere": (
        "alice opened a stream on b1; b1's online() lists her but b2's answered {got_s}: her "
        "entry is not in the shared store, where the other backends look.",
        "in arrive(), write the entry: `await self.store.put(key, user, count, expires)`; " + LISTS,
    ),
    "not_seen": (
        "{step}, yet online() on b{n} answered {got_s} (expected {expected_s}).",
        "arrive() writes the user's entry with `await self.store.put(key, user, count, "
        "time.time() + self.ttl)`; " + LISTS,
    ),
    "one_tab_closed": (
        "bob had two tabs open on b2 and closed one; the other is still open, yet online() on "
        "b{n} no longer lists him: leave() removed his entry at the first close.",
        "count connections: `self.connections[user]` up by one in arrive(), down by one in "
        "leave(); remove the entry only when it reaches 0, else write the new count.",
    ),
    "other_backend_closed": (
        "carol still has a tab open on b1; she closed her tab on b3, and online() on b{n} no "
        "longer lists her: b3's leave() removed the entry b1 counts on.",
        KEY,
    ),
    "shared_key": (
        "Presence.{method}() on {then} wrote to the entry {key!r}, which {first} wrote: two "
        "backends share one key, so one backend's leave() removes (and its writes overwrite) "
        "the entry of a user who still has a tab open on the other.",
        KEY,
    ),
    "user_not_in_key": (
        "Presence.{method}() wrote the entry {key!r} for {then}, over {first}'s: every user of "
        "a backend shares one key, so each arrival hides the user before.",
        KEY,
    ),
    "kept_after_leave": (
        "{step}, yet online() on b{n} still lists {extra_s}, who has no connection open.",
        "when a user's last connection on this backend closes, leave() removes the entry at "
        "once (`await self.store.drop(key)`): expiry is for backends that die, not for users "
        "who leave.",
    ),
    "expired_while_connected": (
        "{missing_s} kept a stream open the whole time, yet {held:.1f} s in (ttl {ttl:g} s) "
        "online() on b{n} no longer listed them: their entries expired. The service had called "
        "beat() {beats} time(s) on b1, every ttl / 3; beat() wrote {writes} entries in all.",
        "beat() writes every user this backend holds again, with a fresh expiry: `for user, "
        "count in self.connections.items(): await self.store.put(key, user, count, "
        "time.time() + self.ttl)`.",
    ),
    "dead": (
        "b1 died (killed: no leave() ran there, its heartbeat stopped), yet {waited:.1f} s "
        "later (ttl {ttl:g} s) online() on b3 still lists {users_s}, who were only on b1: an "
        "entry no backend refreshes any more must stop counting.",
        "in online(), keep only entries whose expiry is still ahead: "
        "`entry.expires > time.time()`.",
    ),
    "reconnect_lost": (
        "dave's backend b1 died and he reconnected to b2 (a WebSocket); {waited:.1f} s later "
        "online() on b3 answered {got_s}, without him: b2's entry for him must count while "
        "b1's stale one is still in the store.",
        "a user is online when ANY of their entries counts (count > 0, expiry ahead).",
    ),
    "monotonic": (
        "Presence.{method}() stored expires={expires:.1f}, which is not a time.time() reading "
        "({now:.0f} now). time.monotonic() counts from an arbitrary start (the machine's boot), "
        "so another backend, on another machine, cannot compare it with its own clock.",
        "store " + FRESH + " (seconds since the epoch, which every backend's synchronised "
        "clock shares), and compare it with time.time() in online().",
    ),
    "far_expiry": (
        "Presence.{method}() stored expires={expires!r}, more than the ttl ({ttl:g} s) ahead of "
        "time.time(): a dead backend's users would stay listed that long, or for ever.",
        "store " + FRESH + ", in seconds (not milliseconds).",
    ),
    "near_expiry": (
        "Presence.{method}() stored an expiry {ahead:.2f} s ahead of time.time(), less than "
        "the ttl ({ttl:g} s): each write must make the entry count a whole ttl, or connected "
        "users drop out between two heartbeats.",
        "store " + FRESH + ": beat() must push the expiry forward, not write an old one again.",
    ),
    "count_below_one": (
        "Presence.{method}() wrote {user}'s entry with count {count}: an entry for no "
        "connection stays in the store (the next beat() may write it again), so every closed "
        "tab leaves one behind.",
        "when a user's last connection on this backend closes, leave() removes the entry at "
        "once: `del self.connections[user]` and `await self.store.drop(key)`.",
    ),
    "types": (
        "Presence.{method}() called the store with {what}.",
        "`await self.store.put(key, user, count, expires)`: a key (str), the user's name (str), "
        "their connections on this backend (int) and " + FRESH + " (float).",
    ),
    "blocking": (
        "Presence.{method}() ran {took:.2f} s without awaiting: a blocking call (time.sleep, a "
        "synchronous client) holds every stream and heartbeat of the backend meanwhile.",
        "wait only with `await` (`await self.store...`, `await asyncio.sleep(...)`).",
    ),
    "unawaited": (
        "Presence.{method}() called self.store.{op}(...) without `await`: that only makes a "
        "coroutine, which never ran, so the store never changed.",
        "`await self.store.{op}(...)`.",
    ),
    "hung": (
        "Presence.{method}() did not return within {hang:g} s.",
        "the service calls beat() every ttl / 3 itself: beat() writes each entry once and "
        "returns (no loop, no sleep inside); arrive(), leave() and online() return too.",
    ),
    "bad_online": (
        "online() returned {returned}, not a set of user names.",
        "return a set, `{entry.user for entry in entries.values() if ...}`: a user with "
        "tabs on two backends has two entries and is listed once.",
    ),
    "crash": (
        "Presence.{method}() on {backend} raised {error_type}: {error}{at}.",
        "read the error above; the cell that defines Presence is the place to fix it.",
    ),
    "refused": (
        "a stream to b{n} was refused with {status}: {said}",
        "run the check again; if it persists, restart the kernel.",
    ),
    "route": (
        "GET /channels/broadcast/presence on b{n} answered {status}: {said}",
        "online() must return a set of user names.",
    ),
    "timed_out": (
        "the check did not finish within {limit:g} s: your Presence kept the servers' loop from "
        "running (time.sleep, or a loop that never awaits?).",
        "wait only with `await`, and await something in every turn of a loop.",
    ),
}


def explain(symptom: Symptom, where: str, **more: Any) -> CheckFailed:
    """The failure the learner reads for ``symptom``; on Redis it says so."""
    facts = {"hang": scaled(HANG), **more, **symptom.facts}
    facts |= {f"{k}_s": short(v) for k, v in symptom.facts.items() if isinstance(v, list)}
    name = symptom.name
    if name == "crash":
        error = facts["error"]
        if isinstance(error, NotImplementedError):
            return not_written(EXERCISE, f"Presence.{facts['method']}")
        if isinstance(error, Hung):
            name = "hung"
        elif isinstance(error, BadOnline):
            name, facts["returned"] = "bad_online", short(error.args[0])
        where_line = learner_line(error, f"Presence.{facts['method']}")
        facts |= {"error_type": type(error).__name__, "at": f" ({where_line})" * bool(where_line)}
    if name == "near_expiry":
        facts["ahead"] = facts["expires"] - facts["now"]
    problem, hint = MISTAKES[name]
    if where:
        problem += f"\nThis happened on {where}; on the in-process store it passed."
    hint = hint.format(**facts) if name == "unawaited" else hint
    return fail(EXERCISE, problem.format(**facts), hint)
