"""Exercise 05's check: a right first_events passes; each likely mistake is named."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from lab import checks
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


@pytest.mark.parametrize(
    ("function", "says"),
    [
        (first_events("watches one at a time"), "watched one after another"),
        (first_events("closes at its first event"), "some of them opened only after others"),
        (first_events("caps all URLs at six"), "the limit is per host and port"),
        (first_events("waits its turn before its window"), "waited for its turn"),
        (first_events("opens a session of its own"), "did not go through the session given"),
        (first_events("times the response"), "you timed the response"),
        (first_events("never stops watching"), "a stream never ends by itself"),
        (first_events("lets the timeout escape"), "raised TimeoutError (at line"),
        (first_events("leaves the streams open"), "still open at the server"),
        (first_events("returns only the events it saw"), "expected a list of 13 values"),
        (crashes, "raised KeyError: 'Last-Event-ID' (at line"),
        (not_written, "not written yet"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_exercise_05_names_each_mistake(function, says):
    with pytest.raises(checks.CheckFailed, match="exercise 05.1") as failure:
        checks.check_05_first_events(function)
    assert says in str(failure.value)
    assert "Hint:" in str(failure.value)


def test_a_plain_def_first_events_is_told_to_be_async():
    def first_events(session, urls, within):
        return []

    with pytest.raises(checks.CheckFailed, match="must be an `async def` function"):
        checks.check_05_first_events(first_events)
