"""Exercise 05's check: a right first_events passes; each likely mistake is named."""

from __future__ import annotations

import asyncio
import time
from functools import partial

import aiohttp
import pytest

from lab import checks
from servers import runtime
from servers.sse import EventParser


def first_events(flaw: str = ""):
    """``first_events`` for exercise 05 as a learner writes it, right or with one ``flaw``."""
    capped = flaw in ("caps all URLs at six", "waits its turn before its window")
    everyone = asyncio.Semaphore(6) if capped else None

    async def first_events(session, urls, within):
        started = time.monotonic()
        firsts = [None] * len(urls)

        async def watch(k, url):
            parser = EventParser()
            client = aiohttp.ClientSession() if flaw == "opens a session of its own" else None
            try:
                async with (client or session).get(url) as response:
                    if flaw == "times the response":
                        firsts[k] = time.monotonic() - started
                    async for chunk in response.content.iter_any():
                        if parser.feed(chunk) and firsts[k] is None:
                            firsts[k] = time.monotonic() - started
                            if flaw in ("closes at its first event", "opens a session of its own"):
                                return
            finally:
                if client is not None:
                    await client.close()

        async def watched(k, url):
            if flaw == "never stops watching":
                return await watch(k, url)
            try:
                if flaw == "waits its turn before its window":
                    async with everyone:
                        return await asyncio.wait_for(watch(k, url), within)
                return await asyncio.wait_for(capped_watch(k, url), within)
            except TimeoutError:
                pass

        async def capped_watch(k, url):
            if everyone is None:
                return await watch(k, url)
            async with everyone:
                return await watch(k, url)

        if flaw == "watches one at a time":
            for k, url in enumerate(urls):
                await watched(k, url)
        elif flaw == "lets the timeout escape":
            await asyncio.wait_for(
                asyncio.gather(*(watch(k, url) for k, url in enumerate(urls))), within
            )
        elif flaw == "leaves the streams open":
            tasks = [asyncio.ensure_future(watch(k, url)) for k, url in enumerate(urls)]
            await asyncio.wait(tasks, timeout=within)
        else:
            await asyncio.gather(*(watched(k, url) for k, url in enumerate(urls)))
        if flaw == "returns only the events it saw":
            return [t for t in firsts if t is not None]
        return firsts

    return first_events


async def crashes(session, urls, within):
    return [(await session.get(url)).headers["Last-Event-ID"] for url in urls[:1]]


async def not_written(session, urls, within):
    raise NotImplementedError()


def test_a_right_first_events_passes_exercise_05(capsys):
    checks.check_05_first_events(first_events())
    out = capsys.readouterr().out
    assert "✔ exercise 05.1" in out and "6 first events and 2 None" in out


def test_a_plain_def_first_events_is_told_to_be_async():
    def first_events(session, urls, within):
        return []

    with pytest.raises(checks.CheckFailed, match="must be an `async def` function"):
        checks.check_05_first_events(first_events)


def shard(flaw: str = ""):
    """``shard`` for exercise 05.2 as a learner writes it, right or with one ``flaw``."""

    def shard(count, origins, per_origin=6):
        limit = 6 if flaw == "assumes six" else per_origin
        if flaw != "never refuses" and count > limit * len(origins):
            raise ValueError("too many streams")
        if flaw == "puts every stream on the first origin":
            return [origins[0]] * count
        if flaw == "returns stream URLs":
            return [f"{origins[k % len(origins)]}/events" for k in range(count)]
        placed, used = [], dict.fromkeys(origins, 0)
        for _ in range(count):  # fill one origin, then the next
            origin = next((o for o in origins if used[o] < limit), origins[-1])
            if flaw == "fills one past its limit":
                origin = next((o for o in origins if used[o] <= limit), origins[-1])
            used[origin] += 1
            placed.append(origin)
        return placed

    return shard


def test_a_right_shard_passes_exercise_05_2(capsys):
    checks.check_05_shard(shard(), first_events())
    out = capsys.readouterr().out
    assert "✔ exercise 05.2" in out and "(6 and 6) all had their first event" in out


def test_exercise_05_2_sends_a_wrong_first_events_back_to_05_1():
    with pytest.raises(checks.CheckFailed, match="exercise 05.2") as failure:
        checks.check_05_shard(shard(), first_events("caps all URLs at six"))
    assert "make the check of exercise 05.1 pass first" in str(failure.value)


def test_an_unwritten_shard_is_named_before_anything_runs():
    def shard(count, origins, per_origin=6):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailed, match="shard\\(\\) is not written yet"):
        checks.check_05_shard(shard, not_written)


FIRST_EVENTS_MISTAKES = {
    "watches one at a time": "watched one after another",
    "closes at its first event": "some of them opened only after others",
    "caps all URLs at six": "the limit is per host and port",
    "waits its turn before its window": "waited for its turn",
    "opens a session of its own": "did not go through the session given",
    "times the response": "you timed the response",
    "never stops watching": "a stream never ends by itself",
    "lets the timeout escape": "raised TimeoutError (at line",
    "leaves the streams open": "still open at the server",
    "returns only the events it saw": "expected a list of 13 values",
}
SHARD_MISTAKES = {
    "assumes six": "more than per_origin=1",
    "never refuses": "13 streams cannot fit in 2 origins of 6",
    "puts every stream on the first origin": "more than per_origin=6",
    "returns stream URLs": "which is not one of the origins given",
    "fills one past its limit": "streams on one origin: more than per_origin",
}
MISTAKES = [
    *(
        ("05.1", partial(checks.check_05_first_events, first_events(flaw)), says)
        for flaw, says in FIRST_EVENTS_MISTAKES.items()
    ),
    ("05.1", partial(checks.check_05_first_events, crashes), "KeyError: 'Last-Event-ID' (at line"),
    ("05.1", partial(checks.check_05_first_events, not_written), "not written yet"),
    *(
        ("05.2", partial(checks.check_05_shard, shard(flaw), first_events()), says)
        for flaw, says in SHARD_MISTAKES.items()
    ),
]
"""Each wrong solution, in the exercise whose check must name its mistake."""


@pytest.mark.parametrize(("exercise", "run", "says"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_each_exercise_05_check_names_each_mistake(exercise, run, says):
    with pytest.raises(checks.CheckFailed, match=f"exercise {exercise}") as failure:
        run()
    assert says in str(failure.value)
    assert "Hint:" in str(failure.value)
    assert runtime.pending_tasks() == [], "the check left the learner's tasks running"
