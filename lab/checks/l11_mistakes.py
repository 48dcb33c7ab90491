"""What exercise 11's check tells a learner (lesson 11): each symptom its scenario can see
(``lab.checks.l11``), as the mistake that causes it and a hint; and the learner's crashes, read
from an exception or from where a task left running is waiting."""

from __future__ import annotations

import asyncio
import traceback
from pathlib import Path
from typing import Any

from lab.checks.core import _NOT_THE_LEARNERS, CheckFailed, fail, learner_line, not_written
from lab.checks.stalled import NotPlain

EXERCISE = "11.1"
LIMIT = 8
TOO_SLOW = 4008

OWN_TASK = (
    "never await a client's send in publish, nor in one loop over the clients: give each client "
    "a bounded queue and a task of its own (`asyncio.create_task(self._write(client, queue))` in "
    "subscribe), and let publish only `queue.put_nowait(message)`."
)
BOUND = (
    "bound each queue, `asyncio.Queue(maxsize=self.limit)`, put with `put_nowait`, and on "
    "asyncio.QueueFull drop the client: unsubscribe it and `client.close(TOO_SLOW, 'too slow')`."
)
EXACT_BOUND = (
    "`asyncio.Queue(maxsize=self.limit)` holds exactly `limit` posts: drop the client when "
    "`put_nowait` raises asyncio.QueueFull, with no `- 1`, `>=` or `qsize() > limit` of your own."
)
CANCEL = (
    "keep each client's task, `self.tasks[client] = asyncio.create_task(...)` in subscribe, and "
    "cancel it in unsubscribe, `self.tasks.pop(client).cancel()`; when you drop a client, "
    "unsubscribe it."
)
TELL = "close it when you drop it: `client.close(TOO_SLOW, 'too slow')` (TOO_SLOW = 4008)."
STALL = "while one client had stopped reading"

MISTAKES: dict[str, tuple[str, str]] = {
    "not delivered": (
        "post {n} never reached fast client(s) {missing} within {wait:g} s, and no client's send "
        "was stuck: nothing sent it to them.",
        "subscribe starts one task per client that loops `message = await queue.get()` then "
        "`await client.send(message)`; publish puts each post into every client's queue.",
    ),
    "one after another": (
        f"{STALL}, post {{n}} reached {{reached}} of {{fast}} fast clients within {{wait:g}} s: "
        "your broadcaster awaits the clients one after another, so the stalled client's send, "
        "which waits for buffers it will never drain (or an `await queue.put`, which waits for "
        "room in its full queue), holds up every client behind it.",
        OWN_TASK,
    ),
    "slow for everyone": (
        "the stalled client was never dropped, and while it had stopped reading, the fast "
        "clients' delay per post rose from {before:.0f} ms to as much as {during:.0f} ms, on "
        "{held} of the {stuck} posts published meanwhile: they waited for the stalled client's "
        "send. A timeout on each send still makes everyone wait "
        "for the slowest, and a send that timed out has still left its post in the server's "
        "buffer, which then grows without a bound.",
        OWN_TASK,
    ),
    "publish blocks": (
        "publish(post {n}) had not returned after {wait:g} s: every fast client had the post, but "
        "publish waited for the stalled client (an await on its send, a gather, or `await "
        "queue.put(...)` into its full queue). A publisher that waits for the slowest client "
        "publishes at its pace.",
        "publish must return at once: `put_nowait` into each client's queue, and drop the client "
        "whose queue is full (asyncio.QueueFull).",
    ),
    "fast dropped": (
        "fast client {name}, which reads every post at once, was dropped (close({code})) at post "
        "{n} with {pending} post(s) waiting for it{during}: a client may have up to "
        f"limit={LIMIT} posts waiting.",
        EXACT_BOUND,
    ),
    "dropped early": (
        "the stalled client was dropped at post {n} with {pending} post(s) waiting for it (not "
        f"counting the one its send was stuck on): limit={LIMIT} lets {LIMIT} posts wait, so the "
        "drop came {off} post(s) too early.",
        EXACT_BOUND,
    ),
    "dropped late": (
        "the stalled client was dropped at post {n} with {pending} posts waiting for it (not "
        f"counting the one its send was stuck on): more than limit={LIMIT}.",
        EXACT_BOUND,
    ),
    "wrong code": (
        "the stalled client was closed with code {code} and reason {reason!r}: it cannot tell "
        f"that it was dropped for being too slow (expected code {TOO_SLOW}, TOO_SLOW, and a "
        "reason).",
        TELL,
    ),
    "task left": (
        "the stalled client was dropped (close({code}) at post {n}), but the task subscribe "
        "started for it is still running{where}: stuck on a send that will never finish, it "
        "holds the client's queue and socket. Ten thousand phones in tunnels: ten thousand tasks.",
        CANCEL,
    ),
    "closed again": (
        "after dropping the stalled client at post {first}, publish dropped it again at post {n}: "
        "it was still subscribed, its queue still full.",
        "unsubscribe a client when you drop it: `self.unsubscribe(client)`, then `client.close("
        "TOO_SLOW, 'too slow')`.",
    ),
    "unbounded": (
        "the stalled client was never dropped: after {published} posts it had not read, when it "
        "read again it received every one of them ({mib:.1f} MiB): the server kept them all, in "
        "a queue without a bound. One client in a tunnel for an hour, or ten thousand of them, "
        "is the server's memory.",
        BOUND,
    ),
    "task per post": (
        "the stalled client was never dropped, and up to {most} sends to it were waiting at once: "
        "a task per post and per client, each holding its post, is a queue without a bound.",
        BOUND,
    ),
    "lost silently": (
        "the stalled client was never told anything: when it read again it received posts "
        "{got_s}, with {missing} posts missing in between, and no close frame: it cannot know "
        "what it missed (a client that is told can reconnect and resume, lesson 04).",
        "do not throw a post away quietly when a queue is full: drop that client, unsubscribed, "
        "with `client.close(TOO_SLOW, 'too slow')`, so it knows to reconnect.",
    ),
    "dropped silently": (
        "the stalled client was dropped without a word: it received posts {got_s}, then nothing, "
        "and its connection stayed open with no close frame. It waits for posts that will never "
        "come, and never reconnects.",
        TELL,
    ),
    "stalled lost": (
        "the stalled client, reading again after it was dropped, received posts {got_s}: "
        "expected posts 1 to {sent}, in order (what was sent to it before it stalled), then its "
        "close frame.",
        "send each client's posts in the order published: one FIFO asyncio.Queue, one task.",
    ),
    "fast lost": (
        "fast client {name} never received post(s) {missing_s}{where}.",
        "every post must reach every client that keeps up, in order: one FIFO queue per client, "
        "each post sent as it comes (no skipping to the latest).",
    ),
    "fast lost at the drop": (
        "fast client(s) {names} never received post {n}, the post at which publish dropped the "
        "stalled client: publish stopped there instead of going on to the next subscribers.",
        "after dropping a client, carry on with the next one (`continue`, not `break` or "
        "`return`).",
    ),
    "fast repeated": (
        "fast client {name} received post(s) {repeated_s} more than once.",
        "put each post once into each client's queue, and send each message you take from it "
        "once: `message = await queue.get()` inside the loop, then `await client.send(message)`.",
    ),
    "fast reordered": (
        "fast client {name} received the posts in the order {got_s}.",
        "asyncio.Queue is first in, first out (LifoQueue and PriorityQueue are not); one task per "
        "client sends its posts in turn.",
    ),
    "not a post": (
        "a client received {odd}, which is not a post as published.",
        "send each message as published: `await client.send(message)`.",
    ),
    "task left after unsubscribe": (
        "clients {names} left and unsubscribe was called for each, but tasks subscribe started "
        "for them are still running{where}.",
        CANCEL,
    ),
    "kept after leaving": (
        "after every client had left (each unsubscribed), publish still called {what}() on "
        "client {name}: unsubscribe left it in the broadcaster, its queue filling with posts "
        "nobody reads.",
        "in unsubscribe, forget the client's queue as well as its task: "
        "`self.queues.pop(client, None)`.",
    ),
    "queue full": (
        "{method} raised asyncio.QueueFull{at}: a client's queue was full, `limit` posts waiting "
        "for it, because it had stopped reading.",
        "catch it and drop that client: `except asyncio.QueueFull: self.unsubscribe(client)` "
        "then `client.close(TOO_SLOW, 'too slow')`, and go on with the next one.",
    ),
    "unsubscribed twice": (
        "unsubscribe(client) raised {error}{at}: the stalled client's handler unsubscribes it when "
        "its connection ends, after publish had already dropped (and unsubscribed) it.",
        "unsubscribe must accept a client it no longer has: `self.queues.pop(client, None)` "
        "rather than `del`, and cancel the task only if there is one.",
    ),
    "changed during iteration": (
        "{method} raised {error}{at}: dropping a client inside `for ... in self.queues.items()` "
        "changes the dict the loop goes over.",
        "loop over a copy: `for client, queue in list(self.queues.items()):`.",
    ),
    "awaited close": (
        "{method} raised {error}{at}: `client.close(...)` returns at once (the close goes on in "
        "the background), there is nothing to await.",
        "call it without await: `client.close(TOO_SLOW, 'too slow')`.",
    ),
    "not plain": (
        "`{method}(client)` is an `async def` function: the server calls it without awaiting (its "
        "handler must not wait on the broadcaster), so calling it only made a coroutine.",
        "write it as a plain `def`; start the client's task with asyncio.create_task(...).",
    ),
    "raised": (
        "{method} raised {error}{at}.",
        "read the error above; the cell that defines Broadcaster is the place to fix it.",
    ),
}


class Symptom(Exception):
    """What the scenario saw go wrong: ``name`` (a key of ``MISTAKES``) and its ``facts``."""

    def __init__(self, name: str, /, **facts: Any) -> None:
        super().__init__(name)
        self.name, self.facts = name, facts


def mistake(symptom: Symptom) -> CheckFailed:
    """The failure for ``symptom``: its message filled in with the facts, and its hint."""
    problem, hint = MISTAKES[symptom.name]
    return fail(EXERCISE, problem.format(**symptom.facts), hint)


def crashed(error: BaseException, method: str) -> CheckFailed | Symptom:
    """The learner's ``method`` (or a task it started) raised ``error``: what that says."""
    if isinstance(error, NotPlain):
        return Symptom("not plain", method=error.method)
    if isinstance(error, NotImplementedError):
        return not_written(EXERCISE, method)
    where = learner_line(error, method)
    facts = {"method": method, "error": f"{type(error).__name__}: {error}"}
    facts["at"] = f" ({where})" if where else ""
    if isinstance(error, asyncio.QueueFull):
        return Symptom("queue full", **facts)
    if isinstance(error, KeyError) and method == "unsubscribe":
        return Symptom("unsubscribed twice", **facts)
    if isinstance(error, RuntimeError) and "changed size during iteration" in str(error):
        return Symptom("changed during iteration", **facts)
    if isinstance(error, TypeError) and "can't be used in 'await' expression" in str(error):
        return Symptom("awaited close", **facts)
    return Symptom("raised", **facts)


def waiting_at(tasks: list[asyncio.Task]) -> str:
    """`` (waiting at line N of NAME: <code>)`` for the first task's innermost frame in the
    learner's own code, or ``""``."""
    for task in tasks:
        for frame in reversed(task.get_stack()):
            filename = frame.f_code.co_filename
            if filename.startswith("<frozen ") or "-packages" in filename:
                continue
            if not str(Path(filename).resolve()).startswith(_NOT_THE_LEARNERS):
                summary = traceback.FrameSummary(filename, frame.f_lineno, frame.f_code.co_name)
                return f" (waiting at line {frame.f_lineno} of {summary.name}: {summary.line})"
    return ""


def spans(numbers: list[int]) -> str:
    """``[1, 2, 3, 7, 8]`` as ``"1-3, 7-8"``."""
    if not numbers:
        return "none"
    parts, start, last = [], numbers[0], numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == last + 1:
            last = number
            continue
        parts.append(f"{start}" if start == last else f"{start}-{last}")
        if number is not None:
            start = last = number
    return ", ".join(parts)
