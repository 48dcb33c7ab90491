"""The parser against a real browser: Chromium's EventSource and EventParser agree, event for
event, on a stream full of edge cases."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from support import chromium_page, needs

from servers import serve
from servers.sse import EventParser

TRICKY_STREAM = (
    "\ufeff: a comment first\r\n"
    "retry: 10000\r\n"
    "id: 1\r\nevent: add\r\ndata: crlf lines\r\ndata:  two spaces\r\n\r\n"
    "id: 2\rdata: cr lines\r\r"
    "data\n\n"
    "id: 3\x004\ndata: id with NULL ignored\n\n"
    "event: custom\nid\ndata: id reset\n\n"
    "id: 5\n\n"
    "data: after an event with no data\ndata\ndata: ünïcode ✓\n\n"
    "data: never dispatched"
).encode()

PAGE = """<!doctype html><script>
window.seen = [];
const source = new EventSource("/stream");
const keep = e => window.seen.push({type: e.type, data: e.data, id: e.lastEventId});
for (const type of ["message", "add", "custom"]) source.addEventListener(type, keep);
source.onerror = () => { source.close(); window.done = true; };
</script>"""


def stream_app() -> web.Application:
    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def stream(request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(TRICKY_STREAM), 5):  # small pieces: splits CRLFs and UTF-8
            await response.write(TRICKY_STREAM[start : start + 5])
            await asyncio.sleep(0.001)
        return response

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/stream", stream)
    return app


async def browser_events(url: str) -> list[dict]:
    async with chromium_page(url) as page:
        await page.wait_for_function("window.done === true")
        return await page.evaluate("window.seen")


def test_chromium_eventsource_and_the_parser_see_the_same_events():
    needs("chromium")
    with serve(stream_app()) as server:
        seen = asyncio.run(browser_events(server.url))
    parser = EventParser()
    ours = [
        {"type": e.type, "data": e.data, "id": e.last_event_id} for e in parser.feed(TRICKY_STREAM)
    ]
    assert seen == ours, json.dumps({"browser": seen, "parser": ours}, indent=1)
    assert len(ours) == 6
