"""servers.clock: the seed's clock stream, as lesson 03 shows it."""

from __future__ import annotations

import httpx

from servers import serve
from servers.clock import make_clock_app
from servers.sse import EventParser


def test_the_clock_streams_its_events_and_tells_caches_neither_to_store_nor_to_transform_them():
    with serve(make_clock_app(0.01, 2)) as server:
        response = httpx.get(server.url + "/time", timeout=10)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-store, no-transform"
    assert len(EventParser().feed(response.content)) == 2
