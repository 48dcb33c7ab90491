"""lab.browser: a real headless Chromium reads the feed across origins (CORS for real)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from support import needs

from lab.browser import launch_args, open_browser
from servers import serve
from servers.feed import Feed, make_app

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
    async with open_browser() as browser:
        page = await browser.new_page()
        await page.goto(page_url)
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


def test_launch_flags_keep_chromium_off_the_network():
    args = launch_args()
    for flag in [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]:
        assert flag in args
