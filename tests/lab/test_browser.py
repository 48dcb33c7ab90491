"""lab.browser: a real headless Chromium reads the feed across origins (CORS for real)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from support import chromium_page, needs

from lab.browser import blank_page_app, open_browser
from servers import serve
from servers.feed import Feed, make_app
from servers.timing import scaled

PAGE = """<!doctype html><p id="out">waiting</p><script>
const out = document.getElementById("out");
async function main() {
  const sent = await fetch("%(api)s/posts", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: "from the page"})});
  const posts = await (await fetch("%(api)s/posts?since=0")).json();
  out.textContent = sent.status + " " + posts.map(p => p.text).join(" | ");
}
main().catch(error => { out.textContent = "blocked: " + error; });
</script>"""


def page_app(api_url: str) -> web.Application:
    async def page(request):
        return web.Response(text=PAGE % {"api": api_url}, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return app


async def page_result(page_url: str) -> str:
    async with chromium_page(page_url) as page:
        await page.wait_for_function("document.getElementById('out').textContent !== 'waiting'")
        return await page.text_content("#out")


def test_a_page_from_one_server_reads_and_posts_to_the_feed_on_another():
    needs("chromium")
    feed = Feed()
    feed.publish("from the kernel")
    with serve(make_app(feed)) as api, serve(page_app(api.url)) as site:
        assert api.port != site.port  # two origins
        result = asyncio.run(page_result(site.url))
    assert result == "201 from the kernel | from the page"
    assert [p["text"] for p in feed.since(0)] == ["from the kernel", "from the page"]


def test_without_cors_headers_the_browser_blocks_the_same_read():
    needs("chromium")

    async def posts(request):
        return web.json_response([])

    bare = web.Application()  # no CORS headers: the control experiment
    bare.router.add_route("*", "/posts", posts)
    with serve(bare) as api, serve(page_app(api.url)) as site:
        result = asyncio.run(page_result(site.url))
    assert result.startswith("blocked: TypeError")


OUTSIDE = "http://outside.invalid/ping"


async def requests_through_a_recording_proxy(page_url: str, quiet: float) -> list[str]:
    """Launch Chromium as the lessons do, with every non-loopback request sent to a local
    proxy that records the first line of each and answers 204; open ``page_url``, have the
    page fetch ``OUTSIDE`` itself, then watch ``quiet`` seconds more."""
    recorded: list[str] = []

    async def record(reader, writer):
        head = await reader.readuntil(b"\r\n")
        recorded.append(head.decode().strip())
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    proxy = await asyncio.start_server(record, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    async with proxy, open_browser(extra_args=[f"--proxy-server=http://127.0.0.1:{port}"]) as b:
        page = await b.new_page()
        await page.goto(page_url)  # loopback: straight to the page's server, not the proxy
        await page.evaluate(f"fetch({OUTSIDE!r}, {{mode: 'no-cors'}}).catch(() => null)")
        deadline = time.monotonic() + scaled(10)
        while not any(OUTSIDE in line for line in recorded):  # the proxy does record
            assert time.monotonic() < deadline, f"the page's own request never reached {port}"
            await asyncio.sleep(0.05)
        await asyncio.sleep(quiet)  # a window for background requests (seen ~1 s after launch)
    return recorded


def test_chromium_launched_as_the_lessons_do_requests_nothing_but_what_the_page_asks_for():
    needs("chromium")
    with serve(blank_page_app()) as site:
        recorded = asyncio.run(requests_through_a_recording_proxy(site.url, scaled(2)))
    unasked = [line for line in recorded if OUTSIDE not in line]
    assert unasked == [], f"Chromium went to the network on its own: {unasked}"
