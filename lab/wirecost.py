"""What each transport puts on the wire per post, and for binary payloads (lesson 07).

Every measurement runs through a ``lab.meter.ByteMeter``, so it counts everything above TCP:
request lines, headers, chunk sizes, SSE field names, WebSocket frame headers. ``Cost`` keeps
what the connection cost to set up apart from what the posts cost after it.
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from lab.meter import ByteMeter
from servers.feed import Feed
from servers.http import compact_json
from servers.sse import EventParser, encode_event

TRANSPORTS = ("short polling", "long polling", "SSE", "WebSocket")


@dataclass(frozen=True)
class Cost:
    """Bytes one client moved: to set up its connection, then for ``posts`` posts."""

    posts: int
    setup: int
    """Both directions, before the first post (a WebSocket handshake, the SSE response head)."""
    up: int
    """Client to server, for the posts."""
    down: int
    """Server to client, for the posts."""
    payload: int
    """The posts' own JSON, ``compact_json(post)``, summed: what every transport must carry."""

    @property
    def per_post(self) -> float:
        return (self.up + self.down) / self.posts

    @property
    def overhead_per_post(self) -> float:
        """Bytes per post beyond the post's JSON: framing, headers, requests."""
        return (self.up + self.down - self.payload) / self.posts


async def cost_per_post(feed: Feed, host: str, port: int, transport: str, posts: int = 20) -> Cost:
    """Deliver ``posts`` new posts to one client over ``transport`` (one of ``TRANSPORTS``),
    through a byte meter in front of the feed server at ``host:port``.

    The polling clients get the best case: exactly one request per post (a real short poller
    also pays for every empty answer, lesson 01).
    """
    deliver = {
        "short polling": _short_polling,
        "long polling": _long_polling,
        "SSE": _sse,
        "WebSocket": _websocket,
    }[transport]
    async with ByteMeter(host, port) as meter, aiohttp.ClientSession() as session:
        payload, (setup_up, setup_down), (end_up, end_down) = await deliver(
            session, meter, feed, posts
        )
    return Cost(posts, setup_up + setup_down, end_up - setup_up, end_down - setup_down, payload)


# Each deliverer returns the posts' payload bytes, and the meter's (up, down) counts when the
# first post is published and when the last one has arrived.


def _counts(meter: ByteMeter) -> tuple[int, int]:
    return meter.counts.up, meter.counts.down


async def _short_polling(session, meter, feed, posts):
    payload = 0
    for n in range(posts):
        since = feed.last_id
        post = feed.publish(f"post number {n:04}")
        async with session.get(meter.url + "/posts", params={"since": since}) as response:
            got = await response.json()
        assert [p["id"] for p in got] == [post["id"]], got
        payload += len(compact_json(got[0]))
    return payload, (0, 0), _counts(meter)


async def _long_polling(session, meter, feed, posts):
    payload = 0
    for n in range(posts):
        waiting = feed.waiting
        params = {"since": feed.last_id, "timeout": 10}
        answer = asyncio.ensure_future(session.get(meter.url + "/posts/wait", params=params))
        while feed.waiting == waiting:  # the request is parked at the server
            await asyncio.sleep(0.001)
        feed.publish(f"post number {n:04}")
        async with await answer as response:
            got = await response.json()
        payload += len(compact_json(got[0]))
    return payload, (0, 0), _counts(meter)


async def _sse(session, meter, feed, posts):
    payload = 0
    waiting = feed.waiting
    async with session.get(meter.url + "/events") as response:
        while feed.waiting == waiting:  # the stream is open and waiting for posts
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)  # the response head and retry: line have passed the meter
        setup = _counts(meter)
        parser = EventParser()
        for n in range(posts):
            feed.publish(f"post number {n:04}")
            events = []
            while not events:
                events = parser.feed(await response.content.readany())
            payload += sum(len(e.data.encode()) for e in events)
        return payload, setup, _counts(meter)


async def _websocket(session, meter, feed, posts):
    payload = 0
    ws_url = meter.url.replace("http://", "ws://") + "/ws"
    async with session.ws_connect(ws_url, heartbeat=None) as ws:
        setup = _counts(meter)
        for n in range(posts):
            feed.publish(f"post number {n:04}")
            payload += len((await ws.receive_str()).encode())
        return payload, setup, _counts(meter)


# Binary payloads: one WebSocket binary frame against base64 in one SSE event.


async def _blob_events(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if size:
        await response.write(encode_event(base64.b64encode(os.urandom(size)).decode("ascii")))
    await response.write_eof()
    return response


def make_blob_app() -> web.Application:
    """``GET /blob?size=N``: an SSE response carrying ``N`` random bytes, base64-encoded, in
    one event (no event at all for ``N=0``), then the end of the stream."""
    app = web.Application()
    app.router.add_get("/blob", _blob_events)
    return app


async def sse_blob_bytes(host: str, port: int, size: int) -> int:
    """Bytes the server sent, through a meter, for ``/blob?size=size``, minus those of the same
    response with no event: what the payload cost on the wire. Checks the bytes decode."""
    totals = []
    for asked in (0, size):
        async with ByteMeter(host, port) as meter, aiohttp.ClientSession() as session:
            async with session.get(f"{meter.url}/blob", params={"size": asked}) as response:
                events = EventParser().feed(await response.read())
            assert len(base64.b64decode("".join(e.data for e in events))) == asked
            totals.append(meter.counts.down)
    return totals[1] - totals[0]


async def ws_blob_bytes(host: str, port: int, size: int, path: str = "/echo") -> int:
    """Bytes a WebSocket echo server at ``host:port`` sent, through a meter, to bring back
    ``size`` random bytes as one binary message (the handshake not counted)."""
    data = os.urandom(size)
    async with (
        ByteMeter(host, port) as meter,
        aiohttp.ClientSession() as session,
        session.ws_connect(meter.url.replace("http", "ws") + path) as ws,
    ):
        before = meter.counts.down
        await ws.send_bytes(data)
        assert await ws.receive_bytes() == data
        return meter.counts.down - before
