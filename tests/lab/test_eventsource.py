"""lab.eventsource in real Chromium: leaky re-runs exhaust six connections, tidy ones do not."""

from __future__ import annotations

import asyncio

from support import needs

from lab.browser import blank_page_app, open_browser, render_output
from lab.eventsource import eventsource_html
from lab.timing import wait_until
from servers import serve
from servers.feed import Feed, make_app


async def rerun(page_url: str, stream_url: str, feed: Feed, *, tidy: bool, runs: int):
    async with open_browser() as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        for _ in range(runs):
            await render_output(page, eventsource_html(stream_url, tidy=tidy))
            await asyncio.sleep(0.2)
        await asyncio.to_thread(wait_until, lambda: feed.waiting == (1 if tidy else 6))
        await asyncio.sleep(0.3)
        return await page.evaluate("document.querySelector('.state').textContent"), feed.waiting


def test_leaky_reruns_hold_six_streams_and_the_seventh_never_opens():
    needs("chromium")
    feed = Feed()
    with serve(make_app(feed)) as api, serve(blank_page_app()) as notebook:
        state, open_streams = asyncio.run(
            rerun(notebook.url, api.url + "/events", feed, tidy=False, runs=7)
        )
    assert open_streams == 6
    assert state == "connecting…"


def test_tidy_reruns_close_the_previous_stream_first():
    needs("chromium")
    feed = Feed()
    with serve(make_app(feed)) as api, serve(blank_page_app()) as notebook:
        state, open_streams = asyncio.run(
            rerun(notebook.url, api.url + "/events", feed, tidy=True, runs=7)
        )
    assert open_streams == 1
    assert state == "open"
