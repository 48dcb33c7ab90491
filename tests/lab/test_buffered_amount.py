"""lab.buffered_amount: a page's WebSocket.bufferedAmount against a slowly reading server."""

from __future__ import annotations

import asyncio

import pytest
from support import chromium_page, needs

from lab.buffered_amount import MESSAGE, THRESHOLD, measure, serve_slow_reader


def test_a_flooding_page_queues_far_more_than_one_that_waits_for_buffered_amount_to_fall():
    needs("chromium")

    async def both():
        reader = serve_slow_reader()
        try:
            async with chromium_page() as page:
                flood = await measure(page, reader.url, "flood", seconds=0.6)
                polite = await measure(page, reader.url, "polite", seconds=0.6)
        finally:
            reader.stop()
        return flood, polite, reader.received

    flood, polite, received = asyncio.run(both())
    assert flood.peak > 4 * polite.peak
    assert polite.peak <= THRESHOLD + MESSAGE and polite.sent > 0 and received > 0
    assert flood.web_socket_has_it and not flood.event_source_has_it


def test_only_flood_and_polite_pages_exist():
    with pytest.raises(ValueError, match="flood or polite"):
        asyncio.run(measure(None, "ws://x", "greedy"))
