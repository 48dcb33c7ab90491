"""Checks for exercise 05: a client capped like a browser, six connections per host and port.

The learner writes ``first_events(session, urls, within)``: open every URL as an SSE stream at
once through ``session``, keep them open ``within`` seconds as a page keeps its EventSources,
and report, per URL, the seconds until its first event, or ``None``.
The check serves one feed on two ports (``lab.connection_limit.feed_origin``, whose
``InFlight`` counts the streams each port holds) and hands over an aiohttp session whose
connector allows six connections per host and port, as Chromium's socket groups do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from lab.checks.core import expect, fail, learner_line, not_written, passed, require_async, short
from lab.connection_limit import InFlight, feed_origin
from servers import runtime
from servers.feed import Feed
from servers.timing import scaled

PER_HOST = 6
ON_FIRST, ON_SECOND = 8, 4
"""Streams asked of the first port (more than six) and of the second (fewer)."""

ONE_AT_A_TIME = (
    "start every stream before waiting for any: one task per URL, then "
    "`await asyncio.gather(*tasks)`."
)
ENDING_AT_WITHIN = (
    "when `within` runs out, stop watching and return what you recorded: "
    "`await asyncio.wait_for(watch(k, url), within)` in each task, inside a try/except "
    "TimeoutError, and gather those tasks."
)


def check_05_first_events(first_events: Callable[..., Any]) -> None:
    """Exercise 05.1: eight streams on one port (six open, two wait for a connection), four on a
    second port (all open), one that never sends an event; every stream closed afterwards."""
    require_async(
        "05.1",
        first_events,
        "first_events(session, urls, within)",
        "write it as `async def first_events(session, urls, within):`.",
    )
    feed = Feed()
    feed.publish("the post every new stream replays")
    (first, at_first), (second, at_second) = (
        feed_origin(feed, name=f"check-05-port-{k}") for k in (1, 2)
    )
    urls = [f"{first.url}/events?lastEventId=0&stream={k}" for k in range(ON_FIRST)]
    urls += [f"{second.url}/events?lastEventId=0&stream={k}" for k in range(ON_SECOND)]
    quiet = f"{second.url}/events?stream=quiet"  # no lastEventId: no event until a new post
    urls.append(quiet)
    within = scaled(1.5)
    try:
        result, left_open = runtime.run(
            run_first_events(first_events, urls, within, (at_first, at_second)), timeout=scaled(30)
        )
    finally:
        first.stop()
        second.stop()
    _judge(result, urls, within, at_first, at_second)
    expect(
        left_open == 0,
        "05.1",
        f"{left_open} stream(s) were still open at the server after first_events returned: the "
        "streams that timed out, or that had their event, were never closed, and each holds one "
        "of the six connections a page has.",
        "open each stream with `async with session.get(url) as response:` and leave the block "
        "(return from inside it); cancel what is still waiting (asyncio.wait_for does).",
    )
    passed(
        "05.1",
        f"through a pool of {PER_HOST} per host and port, {ON_FIRST} streams to one port gave "
        f"{_count(result[:ON_FIRST])} first events and {ON_FIRST - _count(result[:ON_FIRST])} "
        f"None (no connection within {within:g} s); {ON_SECOND} of {ON_SECOND} on a second port "
        "had theirs; the stream that sent no event gave None; nothing was left open.",
    )


async def run_first_events(
    first_events, urls: list[str], within: float, counters: tuple[InFlight, ...]
):
    """The learner's result, and how many streams the servers still held afterwards."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
    before = asyncio.all_tasks()
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            try:
                result = await asyncio.wait_for(
                    first_events(session, urls, within), within + scaled(5)
                )
            except NotImplementedError:
                raise not_written("05.1", first_events.__name__) from None
            except TimeoutError as error:
                held = counters[0].most["/events"]
                raise _timed_out(error, first_events.__name__, within, held) from None
            except Exception as error:
                where = learner_line(error, first_events.__name__)
                raise fail(
                    "05.1",
                    f"first_events raised {type(error).__name__}: {error}"
                    f"{' (' + where + ')' if where else ''}.",
                    "read the error above; the cell that defines first_events is the place to "
                    "fix it.",
                ) from None
            left_open = await _still_open(counters)
        finally:
            await _cancel_left_over(before)
    return result, left_open


async def _cancel_left_over(before: set[asyncio.Task]) -> None:
    """Cancel the tasks the learner's code started and left running (a watch that never ends),
    so a failed check leaves nothing behind on the course's loop."""
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


async def _still_open(counters: tuple[InFlight, ...]) -> int:
    """The streams the servers still hold, once closed ones had a moment to go."""
    deadline = asyncio.get_running_loop().time() + scaled(2)
    while asyncio.get_running_loop().time() < deadline:
        if all(counter.now["/events"] == 0 for counter in counters):
            return 0
        await asyncio.sleep(0.02)
    return sum(counter.now["/events"] for counter in counters)


def _timed_out(error: TimeoutError, name: str, within: float, held: int):
    where = learner_line(error, name)
    if where:  # the learner's own timeout ran out, and nothing caught it
        return fail(
            "05.1",
            f"first_events raised TimeoutError ({where}): `within` running out is the normal "
            "end of the watch (a stream never ends by itself), not an error; the times "
            "recorded so far are the answer.",
            ENDING_AT_WITHIN,
        )
    if held <= 1:
        return fail(
            "05.1",
            f"first_events had not returned {within + scaled(5):g} s after it was called with "
            f"within={within:g}, and the server never held more than {held} stream at once: "
            "the streams were watched one after another.",
            ONE_AT_A_TIME,
        )
    return fail(
        "05.1",
        f"first_events had not returned {within + scaled(5):g} s after it was called with "
        f"within={within:g}: a stream never ends by itself, and one that cannot get a "
        "connection waits for one for as long as you let it.",
        ENDING_AT_WITHIN,
    )


def _judge(result, urls: list[str], within: float, at_first: InFlight, at_second: InFlight):
    expect(
        isinstance(result, (list, tuple)) and len(result) == len(urls),
        "05.1",
        f"first_events returned {short(result)}; expected a list of {len(urls)} values, one per "
        "URL in the order given (a time in seconds, or None).",
        "keep one slot per URL, `firsts = [None] * len(urls)`, fill it by index, and return "
        "it whole: the Nones are part of the answer.",
    )
    odd = [v for v in result if v is not None and not isinstance(v, (int, float))]
    expect(
        not odd,
        "05.1",
        f"first_events returned {short(odd[0]) if odd else ''} for a stream; expected the "
        "seconds until its first event (a number) or None.",
        "return `time.monotonic() - started` when the parser gives its first event.",
    )
    late = [v for v in result if v is not None and not 0 <= v <= within + scaled(1)]
    expect(
        not late,
        "05.1",
        f"first_events reported a first event after {late[0] if late else 0:g}, but every "
        f"stream had at most within={within:g} seconds.",
        "report seconds (not milliseconds) since first_events started: time.monotonic() - started.",
    )
    on_first, on_second, quiet = result[:ON_FIRST], result[ON_FIRST:-1], result[-1]
    expect(
        quiet is None,
        "05.1",
        f"the stream {urls[-1]} sent no event at all (only its response headers and a `retry:` "
        f"line), yet first_events reported one after {quiet or 0:.3g} s: you timed the response or "
        "the first bytes, not the first event.",
        "feed each chunk to an EventParser and record the time at the first chunk for which "
        "parser.feed(chunk) returns an event: `retry:` alone dispatches none.",
    )
    if _count(on_first) == ON_FIRST:
        held = at_first.most["/events"]
        if held <= 1:
            problem = (
                f"all {ON_FIRST} streams to one port had their first event, but the server never "
                f"held more than {held} at once: the streams were opened one after another, so "
                "each found a free connection and the limit never showed."
            )
            hint = ONE_AT_A_TIME
        elif held <= PER_HOST:
            problem = (
                f"all {ON_FIRST} streams to one port had their first event, with at most {held} "
                "open at once: some of them opened only after others had closed. A stream "
                "closed early (at its first event), or waited for its turn before its own "
                "`within` began; a page keeps its EventSources open, and the wait for a "
                "connection is part of the window."
            )
            hint = (
                "record the time of the first event and keep reading the stream; only the end "
                "of `within`, counted from the call, closes it (no lock or turn of your own)."
            )
        else:
            problem = (
                f"all {ON_FIRST} streams to one port had their first event, and the server held "
                f"{held} at once: more than the {PER_HOST} connections the session allows, so "
                "they did not go through the session given (a session or client of your own?)."
            )
            hint = "open every stream with the `session` argument: session.get(url)."
        raise fail("05.1", problem, hint)
    expect(
        _count(on_first) == PER_HOST,
        "05.1",
        f"of {ON_FIRST} streams to one port, {_count(on_first)} had a first event "
        f"({short(on_first)}); expected {PER_HOST}: the pool has {PER_HOST} connections for "
        f"that port, each stream that got one had its event at once.",
        ENDING_AT_WITHIN,
    )
    expect(
        _count(on_second) == ON_SECOND,
        "05.1",
        f"of {ON_SECOND} streams to a second port, only {_count(on_second)} had a first event "
        f"({short(on_second)}), while the first port's {PER_HOST} held their connections: the "
        "limit is per host and port, like a browser's, so the second port had connections to "
        "spare. A cap of your own (an asyncio.Semaphore) across all URLs is not that limit.",
        "leave the limit to the session's connector (limit_per_host=6): start every stream, "
        "and let each wait for a connection of its own port.",
    )


def _count(values) -> int:
    return sum(v is not None for v in values)
