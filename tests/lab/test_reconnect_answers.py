"""lab.reconnect_answers: a stream that ends, then one status; Chromium gives up on a 204 or a
502 and keeps reconnecting to a 200."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import chromium_page, needs

from lab.reconnect_answers import REQUESTS, ends_then, reconnections
from servers import serve
from servers.sse import EventParser


def test_the_first_request_streams_one_event_and_every_later_one_gets_the_status():
    with serve(ends_then(204)) as server:
        first = httpx.get(server.url + "/events")
        second = httpx.get(server.url + "/events")
    events = EventParser().feed(first.content)
    assert (first.status_code, [e.data for e in events]) == (200, ["hi"])
    assert (second.status_code, second.content) == (204, b"")


def test_with_200_every_request_streams_again():
    app = ends_then(200)
    with serve(app) as server:
        answers = [httpx.get(server.url + "/events") for _ in range(2)]
    assert [len(EventParser().feed(a.content)) for a in answers] == [1, 1]
    assert len(app[REQUESTS]) == 2


async def browser_reconnections(status: int) -> tuple[str, int]:
    app = ends_then(status)
    with serve(app) as server:
        async with chromium_page() as page:
            return await reconnections(page, app, server.url + "/events")


@pytest.mark.parametrize(
    ("status", "seen"),
    [(204, ("closed", 2)), (502, ("closed", 2))],
    ids=["a 204 makes Chromium stop reconnecting", "so does a 502"],
)
def test_chromium_gives_up_on_a_status_other_than_200(status, seen):
    needs("chromium")
    assert asyncio.run(browser_reconnections(status)) == seen


def test_chromium_keeps_reconnecting_to_a_stream_that_ends_with_200():
    needs("chromium")
    state, requests = asyncio.run(browser_reconnections(200))
    assert state != "closed" and requests >= 4
