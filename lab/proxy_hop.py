"""What Jupyter's proxy hop does to a stream: when events arrive, and what the hop costs
(lesson 03).

``event_arrivals(url, headers)`` reads a finite stream (a ``servers.clock`` with a ``count``)
and returns, for each event, the seconds after the request when it was parsed: a proxy that
streams gives one time per event, one that buffers gives them all at once, when the stream
ended. ``paired_delays(feed, streams)`` opens every stream in ``streams`` (name → ``(url,
headers)``) at once, publishes posts one at a time and records, per post and per stream, the
delay from ``Feed.publish`` to the event's arrival: the same post over a direct stream and a
proxied one, so the difference is the hop and nothing else (``HopRun.added``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx

from servers.feed import Feed
from servers.sse import EventParser
from servers.timing import scaled


def event_arrivals(url: str, headers: dict[str, str]) -> list[float]:
    """Seconds from the request to each event of the finite stream at ``url``."""
    parser, times = EventParser(), []
    started = time.perf_counter()
    with httpx.stream("GET", url, headers=headers, timeout=scaled(30)) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            times += [time.perf_counter() - started] * len(parser.feed(chunk))
    return times


@dataclass
class HopRun:
    """Per-post delays in seconds, ``delays[name][k]`` for post ``k`` on stream ``name``."""

    delays: dict[str, list[float]]

    def p50(self, name: str) -> float:
        return statistics.median(self.delays[name])

    def added(self, through: str, direct: str) -> float:
        """The median, over posts, of each post's delay through ``through`` minus ``direct``."""
        pairs = zip(self.delays[through], self.delays[direct], strict=True)
        return statistics.median(a - b for a, b in pairs)


async def _arrival(chunks, parser: EventParser, pending: list) -> tuple[object, float]:
    """The next event with data on one stream, and when it was parsed."""
    while not pending:
        pending += [e for e in parser.feed(await chunks.__anext__()) if e.data]
    return pending.pop(0), time.perf_counter()


async def paired_delays(
    feed: Feed, streams: dict[str, tuple[str, dict[str, str]]], *, posts: int = 40
) -> HopRun:
    """Publish ``posts`` posts one by one; each is awaited on every stream before the next.

    Each stream says where it starts (``Last-Event-ID``): without it, a stream starts from
    whatever is newest when its handler gets round to it, which under load can be after the
    first post (seen in a CI run: that stream waited for a post it would never get)."""
    delays: dict[str, list[float]] = {name: [] for name in streams}
    start = {"Last-Event-ID": str(feed.last_id)}
    async with httpx.AsyncClient(timeout=scaled(30)) as client:
        responses = {}
        async with asyncio.TaskGroup() as opening:
            for name, (url, headers) in streams.items():
                request = client.build_request("GET", url, headers={**headers, **start})
                responses[name] = opening.create_task(client.send(request, stream=True))
        readers = {
            name: (task.result().aiter_raw(), EventParser(), []) for name, task in responses.items()
        }
        try:
            for k in range(posts):
                published = time.perf_counter()
                post = feed.publish(f"hop {k + 1}")
                arrivals = await asyncio.wait_for(
                    asyncio.gather(*(_arrival(*reader) for reader in readers.values())),
                    scaled(10),
                )  # every stream at once: each arrival is timed when it happens
                for name, (event, arrived) in zip(readers, arrivals, strict=True):
                    if event.last_event_id != str(post["id"]):
                        raise AssertionError(f"{name}: got post {event.last_event_id} for {post}")
                    delays[name].append(arrived - published)
        finally:
            for task in responses.values():
                await task.result().aclose()
    return HopRun(delays)
