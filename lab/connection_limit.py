"""Count the connections a real browser opens to one origin (lesson 05).

``streams_in_browser(page_url, stream_urls)`` opens a page, then one ``EventSource`` per URL,
and reports for each the time to its first event (``None``: it never opened), plus how long an
ordinary ``fetch()`` to the page's origin then took (``None``: it never finished). Both
windows (1.5 s for the streams to open, 2.5 s for the fetch) stretch with
``COURSE_TIMEOUT_FACTOR``, so a slow machine does not look like a connection limit.

``pool_experiments()`` asks what Chromium's pool is keyed on and what it counts: two ports of
one host, WebSockets beside six streams, long polls. The server's side of each is read by an
``InFlight`` middleware on ``feed_origin(feed)``, the feed's app on a port of its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from lab.browser import open_browser
from servers import Server, serve
from servers.feed import Feed, make_app
from servers.timing import scaled, wait_until

OPEN_STREAMS = """async ({urls, wait, fetchWait}) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const started = performance.now();
  const firsts = urls.map(() => null), sources = [];
  urls.forEach((url, k) => {
    const source = new EventSource(url);
    source.onmessage = () => { if (firsts[k] === null) firsts[k] = performance.now() - started; };
    sources.push(source);
  });
  await sleep(wait);
  const fetchStarted = performance.now();
  const fetched = await Promise.race([
    fetch("/ping").then(() => performance.now() - fetchStarted),
    sleep(fetchWait).then(() => null),
  ]);
  sources.forEach(source => source.close());
  const protocol = performance.getEntriesByType("navigation")[0].nextHopProtocol;
  return {firsts, fetched, protocol};
}"""


async def streams_in_browser(
    page_url: str,
    stream_urls: list[str],
    *,
    wait_ms: float | None = None,
    fetch_wait_ms: float | None = None,
) -> dict:
    """``{"firsts": [ms or None per stream], "fetched": ms or None, "protocol": "h2" ...}``.

    ``wait_ms`` and ``fetch_wait_ms`` default to ``scaled`` 1500 and 2500 ms."""
    wait_ms = scaled(1500) if wait_ms is None else wait_ms
    fetch_wait_ms = scaled(2500) if fetch_wait_ms is None else fetch_wait_ms
    async with open_browser(extra_args=["--ignore-certificate-errors"]) as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        return await page.evaluate(
            OPEN_STREAMS, {"urls": stream_urls, "wait": wait_ms, "fetchWait": fetch_wait_ms}
        )


class InFlight:
    """An aiohttp middleware that counts, per path, the requests being served right now
    (``now``), the most at once (``most``) and all so far (``total``): what the server saw of
    a browser's connection pool (lesson 05). An SSE stream, a WebSocket and a held long poll
    each stay "in flight" for as long as they are open."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.total: Counter[str] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        path = request.path
        self.now[path] += 1
        self.total[path] += 1
        self.most[path] = max(self.most[path], self.now[path])
        try:
            return await handler(request)
        finally:
            self.now[path] -= 1


def feed_origin(feed: Feed, *, name: str) -> tuple[Server, InFlight]:
    """The feed's app on its own port (its own origin, ``http://127.0.0.1:PORT``) with a blank
    page at ``/`` and an ``InFlight`` counting what it serves."""
    app = make_app(feed)
    counter = InFlight()
    app.middlewares.append(counter.middleware)
    app.router.add_get("/", _blank_page)
    return serve(app, name=name), counter


async def _blank_page(request: web.Request) -> web.Response:
    return web.Response(text="<!doctype html><title>one origin</title>", content_type="text/html")


OPEN = """({kind, urls}) => {
  const lab = window.lab ??= {started: performance.now(), handles: []};
  const times = lab[kind] = urls.map(() => null);
  urls.forEach((url, k) => {
    const mark = () => { times[k] ??= performance.now() - lab.started; };
    if (kind === "fetch") { fetch(url).then(r => r.text()).then(mark); return; }
    const handle = kind === "sse" ? new EventSource(url) : new WebSocket(url);
    handle.onopen = mark;
    lab.handles.push(handle);
  });
}"""
"""Open ``urls`` as ``EventSource``s (``kind`` "sse"), ``WebSocket``s ("ws") or ``fetch``es
("fetch"); ``window.lab[kind][k]`` becomes the ms at which the k-th opened (answered, for a
fetch), and stays ``null`` until then."""


async def _opened(page, kind: str) -> list[float | None]:
    return await page.evaluate(f"window.lab[{kind!r}]")


def _count(times: list[float | None]) -> int:
    return sum(t is not None for t in times)


async def pool_experiments(count: int = 8, *, window_s: float | None = None) -> dict:
    """Three measurements in one headless Chromium, each on fresh origins of one feed, with
    ``count`` (8) connections asked for and ``window_s`` (``scaled`` 1.5 s) to let them open:

    - ``tabs``: ``count // 2`` ``EventSource``s in each of two tabs of one origin: how many
      opened per tab (``opened``), and the most the server saw (``served``);
    - ``ports``: ``count`` ``EventSource``s to each of two ports of 127.0.0.1: how many opened
      per port (``opened``), and the most the servers saw (``served``);
    - ``websockets``: six ``EventSource``s open, then ``count`` ``WebSocket``s and a ``fetch``
      to the same origin: ``streams``, ``sockets`` opened, ``served`` (WebSockets at once), and
      ``fetched`` (did the fetch answer?);
    - ``long_polls``: ``count`` ``fetch``es to ``/posts/wait``: ``in_flight`` (held at the
      server before any post), then a post: ``answered`` and ``requests`` (all that arrived).
    """
    window = scaled(1.5) if window_s is None else window_s
    feed = Feed()
    origins = [feed_origin(feed, name=f"pool-{k}") for k in range(5)]
    try:
        async with open_browser() as browser:

            async def on(origin: Server):
                page = await browser.new_page()
                await page.goto(origin.url + "/")
                return page

            (a, at_a), (b, at_b), (c, at_c), (d, at_d), (e, at_e) = origins
            tabs = [await on(e), await on(e)]
            for tab in tabs:
                urls = [f"{e.url}/events?stream={k}" for k in range(count // 2)]
                await tab.evaluate(OPEN, {"kind": "sse", "urls": urls})
            await asyncio.sleep(window)
            in_tabs = {
                "opened": [_count(await _opened(tab, "sse")) for tab in tabs],
                "served": at_e.most["/events"],
            }
            for tab in tabs:
                await tab.close()

            page = await on(a)
            urls = [f"{o.url}/events?stream={k}" for o in (a, b) for k in range(count)]
            await page.evaluate(OPEN, {"kind": "sse", "urls": urls})
            await asyncio.sleep(window)
            times = await _opened(page, "sse")
            ports = {
                "opened": [_count(times[:count]), _count(times[count:])],
                "served": [at_a.most["/events"], at_b.most["/events"]],
            }
            await page.close()

            page = await on(c)
            streams = [f"{c.url}/events?stream={k}" for k in range(6)]
            await page.evaluate(OPEN, {"kind": "sse", "urls": streams})
            await asyncio.to_thread(wait_until, lambda: at_c.now["/events"] == 6)
            sockets = [f"ws://{c.host}:{c.port}/ws?socket={k}" for k in range(count)]
            await page.evaluate(OPEN, {"kind": "ws", "urls": sockets})
            await page.evaluate(OPEN, {"kind": "fetch", "urls": [c.url + "/posts"]})
            await asyncio.sleep(window)
            websockets = {
                "streams": _count(await _opened(page, "sse")),
                "sockets": _count(await _opened(page, "ws")),
                "served": at_c.most["/ws"],
                "fetched": _count(await _opened(page, "fetch")) == 1,
            }
            await page.close()

            page = await on(d)
            polls = [f"{d.url}/posts/wait?since=0&timeout=30&poll={k}" for k in range(count)]
            await page.evaluate(OPEN, {"kind": "fetch", "urls": polls})
            await asyncio.sleep(window)
            held = at_d.now["/posts/wait"]
            feed.publish("the post every long poll waits for")
            await page.wait_for_function(
                "window.lab.fetch.every(t => t !== null)", timeout=scaled(10) * 1000
            )
            long_polls = {
                "in_flight": held,
                "answered": _count(await _opened(page, "fetch")),
                "requests": at_d.total["/posts/wait"],
                "most": at_d.most["/posts/wait"],
            }
            await page.close()
    finally:
        for server, _ in origins:
            server.stop()
    return {
        "count": count,
        "tabs": in_tabs,
        "ports": ports,
        "websockets": websockets,
        "long_polls": long_polls,
    }
