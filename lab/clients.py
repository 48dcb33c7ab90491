"""Clients that record when each post arrives, one per transport (lessons 01 to 04, and 08).

Every client keeps a ``ClientLog``: each post's arrival (id, the server's publish time, the
client's receive time), how many requests it sent, how many answers brought nothing new, and
the send time of each request. Clients ask with ``since=`` the newest id they hold, so they
never lose or repeat a post; a test in ``lab.delivery`` holds them to it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class ClientLog:
    """What one client saw."""

    arrivals: list[tuple[int, float, float]] = field(default_factory=list)
    """``(post id, published at, received at)``, in the order received; times from time.time()."""
    requests: int = 0
    empty: int = 0
    """Answers that brought no new post: ``[]``, 204 or 304."""
    not_modified: int = 0
    """Of those, the 304s: answers to a conditional request whose body was spared."""
    errors: int = 0
    sent_at: list[float] = field(default_factory=list)
    """When each request was sent (time.time())."""
    found: list[int] = field(default_factory=list)
    """How many new posts each answer brought (-1 for a failed request), parallel to sent_at."""

    @property
    def last_id(self) -> int:
        return self.arrivals[-1][0] if self.arrivals else 0

    def record(self, posts: list[dict]) -> None:
        received = time.time()
        self.arrivals.extend((p["id"], p["ts"], received) for p in posts)

    def to_json(self) -> dict:
        return {
            "arrivals": self.arrivals,
            "requests": self.requests,
            "empty": self.empty,
            "not_modified": self.not_modified,
            "errors": self.errors,
            "sent_at": self.sent_at,
            "found": self.found,
        }


async def short_poll(
    session: aiohttp.ClientSession,
    url: str,
    *,
    interval: float,
    stop: asyncio.Event,
    log: ClientLog,
    since: int = 0,
    etag: bool = False,
    whole_list: bool = False,
    phase: float = 0.0,
) -> ClientLog:
    """Ask ``GET /posts?since=`` every ``interval`` seconds (lesson 01) until ``stop`` is set.

    ``phase`` delays the first request, so many pollers do not ask in lock step. With
    ``whole_list=True`` it asks for the whole list every time, as a page showing the latest
    posts does, and keeps only the posts it has not seen. With ``etag=True`` it sends
    ``If-None-Match`` and counts a 304 as an empty answer.
    """
    validator = None
    if await _sleep_or_stop(phase, stop):
        return log
    next_at = time.monotonic()
    while not stop.is_set():
        headers = {"If-None-Match": validator} if etag and validator else {}
        query = {} if whole_list else {"since": max(since, log.last_id)}
        answer = await _get(session, url + "/posts", query, headers, log)
        if answer is not None:
            posts, validator = answer[0], answer[1] or validator
            new = [p for p in posts if p["id"] > max(since, log.last_id)]
            if whole_list and posts and not new:
                log.empty += 1
            log.record(new)
        log.found.append(-1 if answer is None else len(new))
        next_at += interval
        if await _sleep_or_stop(max(0.0, next_at - time.monotonic()), stop):
            break
    return log


async def long_poll(
    session: aiohttp.ClientSession,
    url: str,
    *,
    stop: asyncio.Event,
    log: ClientLog,
    timeout: float = 25.0,
    since: int = 0,
) -> ClientLog:
    """Hold ``GET /posts/wait?since=`` open until a post arrives, then ask again (lesson 02).

    An answer, a 204 after ``timeout`` seconds or a dropped connection all lead to the next
    request with the newest id held, so nothing published in between is lost.
    """
    while not stop.is_set():
        query = {"since": max(since, log.last_id), "timeout": timeout}
        waiting = await _until_stopped(_get(session, url + "/posts/wait", query, {}, log), stop)
        if waiting.cancelled():
            break
        answer = waiting.result()
        log.found.append(-1 if answer is None else len(answer[0]))
        if answer is None:
            await _sleep_or_stop(0.05, stop)  # a failed request: back off a little, then retry
        else:
            log.record(answer[0])
    return log


async def sse_listen(
    session: aiohttp.ClientSession,
    url: str,
    *,
    stop: asyncio.Event,
    log: ClientLog,
    since: int = 0,
    reconnect_delay: float | None = None,
) -> ClientLog:
    """Read ``GET /events`` as a browser's ``EventSource`` does (lessons 03 and 04).

    Each post event is recorded; when the stream ends or breaks, wait the server's ``retry``
    (or ``reconnect_delay`` when given) and reconnect with ``Last-Event-ID`` set to the last
    id received, so nothing published in between is lost or repeated. Like ``EventSource``,
    it gives up for good on an answer other than 200. ``requests`` counts connections;
    ``errors`` the ones that broke or were refused.
    """
    from servers.sse import EventParser

    last_id, retry_s = str(since) if since else "", 3.0
    while not stop.is_set():
        parser = EventParser(last_event_id=last_id)
        log.requests += 1
        log.sent_at.append(time.time())
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            endless = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with session.get(url + "/events", headers=headers, timeout=endless) as response:
                if response.status != 200:
                    log.errors += 1
                    return log  # EventSource "fails the connection": no more retries
                reading = await _until_stopped(_read_events(response, parser, log), stop)
                if not reading.cancelled() and reading.exception():
                    raise reading.exception()
        except (aiohttp.ClientError, TimeoutError):
            log.errors += 1
        last_id = parser.last_event_id
        retry_s = parser.retry / 1000 if parser.retry is not None else retry_s
        await _sleep_or_stop(reconnect_delay if reconnect_delay is not None else retry_s, stop)
    return log


async def ws_listen(
    session: aiohttp.ClientSession,
    url: str,
    *,
    stop: asyncio.Event,
    log: ClientLog,
    since: int = 0,
    reconnect_delay: float = 0.25,
) -> ClientLog:
    """Read the feed's ``GET /ws`` (lesson 07; the load generator's "ws" kind in lesson 08).

    Each JSON text message is a post, recorded on arrival. When the socket closes or breaks,
    reconnect after ``reconnect_delay`` with ``since=`` the newest id held, so nothing published
    in between is lost or repeated. ``requests`` counts connections; ``errors`` the ones that
    failed or ended with anything but a normal close, plus in-band ``{"error"}`` messages.
    """
    while not stop.is_set():
        log.requests += 1
        log.sent_at.append(time.time())
        query = {"since": max(since, log.last_id)}
        try:
            async with session.ws_connect(url + "/ws", params=query, heartbeat=None) as ws:
                receiving = await _until_stopped(_read_messages(ws, log), stop)
                if not receiving.cancelled() and receiving.exception():
                    raise receiving.exception()
                if not stop.is_set() and ws.close_code not in (1000, None):
                    log.errors += 1
        except (aiohttp.ClientError, TimeoutError):
            log.errors += 1
        await _sleep_or_stop(reconnect_delay, stop)
    return log


async def _read_messages(ws, log: ClientLog) -> None:
    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        post = json.loads(message.data)
        if "error" in post:
            log.errors += 1
            continue
        log.found.append(1)
        log.record([post])


async def _read_events(response, parser, log: ClientLog) -> None:
    async for chunk in response.content.iter_any():
        posts = [json.loads(e.data) for e in parser.feed(chunk) if e.type == "message"]
        if posts:
            log.found.append(len(posts))
            log.record(posts)


async def _get(session, url, params, headers, log) -> tuple[list[dict], str | None] | None:
    """One request: ``(new posts, ETag)``; ``None`` when it failed (counted as an error)."""
    log.requests += 1
    log.sent_at.append(time.time())
    try:
        async with session.get(url, params=params, headers=headers) as response:
            if response.status in (204, 304):
                log.empty += 1
                log.not_modified += response.status == 304
                return [], response.headers.get("ETag")
            response.raise_for_status()
            posts = await response.json()
    except (aiohttp.ClientError, TimeoutError):
        log.errors += 1
        return None
    if not posts:
        log.empty += 1
    return posts, response.headers.get("ETag")


async def _until_stopped(coroutine, stop: asyncio.Event) -> asyncio.Task:
    """Run ``coroutine`` until it ends or ``stop`` is set, then cancel it; return its task."""
    task = asyncio.ensure_future(coroutine)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
    await asyncio.gather(task, stopped, return_exceptions=True)
    return task


async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> bool:
    """Sleep, waking early if ``stop`` is set; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
