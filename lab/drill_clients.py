"""The failure drill's clients: readers that resume, a publisher that retries (lesson 14).

``Reader`` reads one channel of the notification service as a browser's ``EventSource``
does (lessons 03 and 04): after a stream ends or breaks it waits the stream's ``retry:`` and
reconnects with ``Last-Event-ID`` (the session cookie as a browser sends it), recording each
post's id, each event type (``gap``, ``shutdown``, ``reset``), each connection and which
backend served it (``X-Backend``). It starts from an explicit id, so counting starts exactly.
One difference, said here: a browser's ``EventSource`` gives up for good on a 502 (every
backend down), and the page must open a new one from the id it kept; ``Reader`` retries.
``flaw`` makes it a broken client that lesson 14's drill must catch: ``"forgets its id"``
(reconnects without ``Last-Event-ID``), ``"resumes one early"`` (one below its last id),
``"drops one"`` (never shows its first post).

``Publisher`` posts at a steady rate and retries each post refused with 502, 503, 504 or a
broken connection until it is taken: a post counts as published only once it got its 201.
Each post carries its own ``Idempotency-Key``, the same on every retry, so a retry of a post
the service took (its 201 lost) is answered with that post (``Idempotent-Replayed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import httpx

from servers.notify.auth import COOKIE
from servers.notify.idempotency import HEADER, REPLAYED
from servers.sse import EventParser
from servers.timing import scaled

FLAWS = ("forgets its id", "resumes one early", "drops one")
RETRYABLE = {502, 503, 504}


@dataclass
class Reader:
    """One SSE client of one channel, reading as ``EventSource`` does (see the module)."""

    name: str
    channel: str
    token: str | None
    last_id: int
    flaw: str | None = None
    received: list[int] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    """Event types received: ``message``, ``gap``, ``shutdown``, ``reset``."""
    gaps: list[dict] = field(default_factory=list)
    connections: int = 0
    backends: list[str] = field(default_factory=list)
    """``X-Backend`` of each answered connection: which backend served it."""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    refused: str = ""
    """Why the service refused the stream for good (a 4xx: it reads no more), or ``""``."""

    @property
    def backend(self) -> str:
        return self.backends[-1] if self.backends else "?"

    def gapped(self, post_id: int) -> bool:
        """Whether a ``gap`` event told this reader ``post_id`` is gone."""
        return any(g["missed_after"] < post_id < g["oldest_held"] for g in self.gaps)

    async def read(self, session: aiohttp.ClientSession, url: str) -> None:
        """Read until cancelled, reconnecting after ``retry:`` (see the module)."""
        retry_s, dropped = 1.0, False
        while True:
            resume = self.last_id - (self.flaw == "resumes one early" and self.connections > 0)
            headers = {"Last-Event-ID": str(resume)}
            if self.flaw == "forgets its id" and self.connections > 0:
                headers = {}
            if self.token:
                headers["Cookie"] = f"{COOKIE}={self.token}"  # as a browser sends it
            parser = EventParser(last_event_id=str(resume))
            self.connections += 1
            endless = aiohttp.ClientTimeout(total=None, sock_read=None)
            path = f"{url}/channels/{self.channel}/events"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(path, headers=headers, timeout=endless) as response:
                    if response.status == 200:
                        self.backends.append(response.headers.get("X-Backend", "?"))
                        self.connected.set()
                        async for chunk in response.content.iter_any():
                            for event in parser.feed(chunk):
                                dropped = self._take(event, dropped)
                    elif response.status not in RETRYABLE:  # a browser's EventSource gives up
                        self.refused = f"{response.status} {await response.text()}"
                        self.connected.set()
                        return
            retry_s = parser.retry / 1000 if parser.retry is not None else retry_s
            await asyncio.sleep(retry_s)

    def _take(self, event, dropped: bool) -> bool:
        self.events[event.type] += 1
        data = json.loads(event.data) if event.data else {}
        if event.type == "gap":
            self.gaps.append(data)
        if event.type != "message":
            return dropped
        if self.flaw == "drops one" and not dropped:
            return True  # the bug: its first post is never shown
        self.received.append(data["id"])
        self.last_id = data["id"]
        return dropped


class Publisher:
    """Posts ``rate`` a second through the front, cycling over ``channels``, retrying each
    until it is taken (201): ``published[channel]`` the ids taken, ``retries`` the refused or
    broken attempts, ``replayed`` the retries answered with a post already taken."""

    def __init__(self, url: str, token: str, channels: list[str], rate: float) -> None:
        self.url, self.channels, self.rate = url, channels, rate
        self.headers = {"Authorization": f"Bearer {token}"}
        self.published: dict[str, list[int]] = {c: [] for c in set(channels)}
        self.retries = self.sent = self.replayed = 0

    async def run(self, http: httpx.AsyncClient, until: asyncio.Event, label: str) -> None:
        next_at = time.monotonic()
        while not until.is_set():
            channel = self.channels[self.sent % len(self.channels)]
            post = await self.post(http, channel, f"{label} #{self.sent}")
            self.published[channel].append(post["id"])
            self.sent += 1
            next_at = max(next_at + 1 / self.rate, time.monotonic() - 1 / self.rate)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def post(self, http: httpx.AsyncClient, channel: str, text: str) -> dict:
        """One post, retried under one idempotency key until taken; ``RuntimeError`` for a
        refusal no retry mends."""
        deadline = time.monotonic() + scaled(20)
        headers = {**self.headers, HEADER: f'"{uuid.uuid4()}"'}
        while True:
            with contextlib.suppress(httpx.TransportError):
                answer = await http.post(
                    f"{self.url}/channels/{channel}/posts", json={"text": text},
                    headers=headers,
                )  # fmt: skip
                if answer.status_code == 201:
                    self.replayed += answer.headers.get(REPLAYED) == "true"
                    return answer.json()
                if answer.status_code not in RETRYABLE:
                    raise RuntimeError(f"post refused: {answer.status_code} {answer.text}")
            self.retries += 1
            if time.monotonic() > deadline:
                raise RuntimeError(f"no post taken within {scaled(20):g} s: the service is down")
            await asyncio.sleep(0.05)
