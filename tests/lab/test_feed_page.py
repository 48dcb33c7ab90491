"""lab.feed_page in real Chromium: the page's socket sends a post up and lists what comes down."""

from __future__ import annotations

import asyncio
import json

from support import chromium_page, needs, wait_until

from lab.browser import render_output
from lab.feed_page import HELLO, feed_socket_html
from servers import serve
from servers.feed import Feed, make_app


async def posts_seen_by_the_page(ws_url: str, feed: Feed) -> list[str]:
    async with chromium_page() as page:
        await render_output(page, feed_socket_html(ws_url))
        await asyncio.to_thread(wait_until, lambda: feed.last_id == 1, what="the page's hello")
        feed.publish("from the kernel")
        await page.wait_for_function(
            "JSON.parse(document.querySelector('.course-feed-socket').dataset.posts || '[]')"
            ".length === 2"
        )
        return json.loads(await page.get_attribute(".course-feed-socket", "data-posts"))


def test_the_browser_publishes_up_and_receives_its_own_post_and_the_kernels_down():
    needs("chromium")
    feed = Feed()
    with serve(make_app(feed)) as server:
        posts = asyncio.run(posts_seen_by_the_page(server.url.replace("http", "ws") + "/ws", feed))
    assert posts == [HELLO, "from the kernel"]
