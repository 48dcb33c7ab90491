"""Count the streams a real browser opens to one origin (lesson 05).

``streams_in_browser(page_url, stream_urls)`` opens a page, then one ``EventSource`` per URL,
and reports for each the time to its first event (``None``: it never opened), plus how long an
ordinary ``fetch()`` to the page's origin then took (``None``: it never finished). Both
windows (1.5 s for the streams to open, 2.5 s for the fetch) stretch with
``COURSE_TIMEOUT_FACTOR``, so a slow machine does not look like a connection limit.
"""

from __future__ import annotations

from lab.browser import open_browser
from servers.timing import scaled

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
