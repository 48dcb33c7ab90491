"""lab.eventsource in real Chromium: leaky re-runs exhaust six connections, tidy ones do not."""

from __future__ import annotations

import asyncio

import pytest
from support import chromium_page, needs

from lab.browser import render_output
from lab.eventsource import eventsource_html
from servers import serve
from servers.feed import Feed, make_app
from servers.timing import wait_until


async def rerun(stream_url: str, feed: Feed, *, tidy: bool, runs: int):
    async with chromium_page() as page:
        for _ in range(runs):
            await render_output(page, eventsource_html(stream_url, tidy=tidy))
            await asyncio.sleep(0.2)
        await asyncio.to_thread(wait_until, lambda: feed.waiting == (1 if tidy else 6))
        await asyncio.sleep(0.3)
        return await page.evaluate("document.querySelector('.state').textContent"), feed.waiting


@pytest.mark.parametrize(
    ("tidy", "open_streams", "last_state"),
    [(False, 6, "connecting…"), (True, 1, "open")],
    ids=[
        "leaky re-runs hold six streams and the seventh never opens",
        "tidy re-runs close the previous stream first",
    ],
)
def test_rerunning_a_live_stream_cell_seven_times(tidy, open_streams, last_state):
    needs("chromium")
    feed = Feed()
    with serve(make_app(feed)) as api:
        state, streams = asyncio.run(rerun(api.url + "/events", feed, tidy=tidy, runs=7))
    assert (streams, state) == (open_streams, last_state)
