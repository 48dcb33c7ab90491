"""lab.connection_limit: the server's count of what is in flight, and Chromium's pools."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import needs

from lab.connection_limit import feed_origin, pool_experiments
from servers.feed import Feed
from servers.timing import wait_until


def test_in_flight_counts_held_requests_the_most_at_once_and_all_so_far():
    feed = Feed()
    server, counter = feed_origin(feed, name="test-in-flight")

    async def three_long_polls_then_one_more():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            polls = [
                asyncio.ensure_future(client.get("/posts/wait", params={"since": 0}))
                for _ in range(3)
            ]
            await asyncio.to_thread(wait_until, lambda: counter.now["/posts/wait"] == 3)
            feed.publish("wake up")
            answers = await asyncio.gather(*polls)
            again = await client.get("/posts/wait", params={"since": 0})
            page = await client.get("/")
        return [a.status_code for a in answers], again.status_code, page

    try:
        statuses, again, page = asyncio.run(three_long_polls_then_one_more())
    finally:
        server.stop()
    assert statuses == [200, 200, 200] and again == 200
    assert counter.now["/posts/wait"] == 0
    assert counter.most["/posts/wait"] == 3
    assert counter.total["/posts/wait"] == 4
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.fixture(scope="module")
def measured():
    needs("chromium")
    return asyncio.run(pool_experiments(8))


def test_chromium_gives_each_port_of_one_host_its_own_six_connections(measured):
    assert measured["ports"] == {"opened": [6, 6], "served": [6, 6]}


def test_chromium_opens_eight_websockets_beside_six_streams_while_a_fetch_waits(measured):
    assert measured["websockets"] == {"streams": 6, "sockets": 8, "served": 8, "fetched": False}


def test_chromium_holds_six_long_polls_in_flight_and_sends_the_rest_after_a_post(measured):
    assert measured["long_polls"] == {"in_flight": 6, "answered": 8, "requests": 8, "most": 6}


def test_chromium_shares_six_connections_between_two_tabs_of_one_origin(measured):
    opened = measured["tabs"]["opened"]
    assert sum(opened) == 6 and min(opened) < 4 and measured["tabs"]["served"] == 6
