"""Chromium on one HTTP/2 connection: many streams, the server's ceiling, and a WebSocket inside
(lesson 13).

``streams_past_ceiling([(origin, n, expect), ...])`` opens a page of each ``origin``
(``servers.multiplex``) and ``n`` ``EventSource``s on it, records which had their first event,
closes the first two and records again: streams past the server's
``SETTINGS_MAX_CONCURRENT_STREAMS`` wait for a slot, and take one when a stream closes.
``websocket_from_page(origin)`` opens a ``wss://`` WebSocket to the page's own origin and
echoes a message (and, with ``first_from``, the same WebSocket from a page of another origin
first). Both run Chromium with ``--log-net-log`` and return what its NetLog says
(``netlog_http2``): the SETTINGS the server sent, and the WebSocket's request and response
headers when it went inside HTTP/2 (RFC 8441).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lab.browser import open_browser
from servers.timing import scaled

CEILING_SCRIPT = """async ({n, expect, wait, grace, after}) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const until = async (done, ms) => {
    const from = performance.now();
    while (!done() && performance.now() - from < ms) await sleep(10);
  };
  const started = performance.now();
  const firsts = Array(n).fill(null), sources = [];
  const opened = () => firsts.filter(first => first !== null).length;
  for (let k = 0; k < n; k++) {
    const source = new EventSource("/events?stream=" + k);
    source.onmessage = () => { if (firsts[k] === null) firsts[k] = performance.now() - started; };
    sources.push(source);
  }
  await until(() => opened() >= expect, wait);
  await sleep(grace);  // time for any stream beyond the expected ones to open too
  const before = firsts.slice();
  const closedAt = performance.now() - started;
  sources[0].close();
  sources[1].close();
  await until(() => opened() === n, after);
  sources.forEach(source => source.close());
  return {before, after: firsts, closedAt};
}"""

WEBSOCKET_SCRIPT = """async (url) => {
  const ws = new WebSocket(url ?? "wss://" + location.host + "/ws");
  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = () => no(new Error("no open")); });
  const started = performance.now();
  const echoed = new Promise(ok => { ws.onmessage = e => ok(e.data); });
  ws.send("hello");
  const got = await echoed;
  const ms = performance.now() - started;
  ws.close();
  return {got, ms, page: performance.getEntriesByType("navigation")[0].nextHopProtocol};
}"""


async def _on_pages(visits: list[tuple[str, str, object]]) -> list[dict]:
    """Run each ``(origin, script, argument)`` on a page of ``origin``, in turn, in one
    Chromium; each result gets ``"settings"``, the SETTINGS its origin's server sent, and
    ``"netlog"``, all the NetLog said (``netlog_http2``)."""
    with tempfile.TemporaryDirectory(prefix="course-netlog-") as folder:
        log = Path(folder, "netlog.json")
        args = ["--ignore-certificate-errors", f"--log-net-log={log}"]
        results = []
        async with open_browser(extra_args=args) as browser:
            for origin, script, argument in visits:
                page = await browser.new_page()
                await page.goto(origin + "/")
                results.append(await page.evaluate(script, argument))
                await page.close()
        seen = netlog_http2(log)  # complete once the browser has closed
    for (origin, _, _), result in zip(visits, results, strict=True):
        result["settings"] = seen["settings"].get(origin.split("//", 1)[1], {})
        result["netlog"] = seen
    return results


async def streams_past_ceiling(
    runs: list[tuple[str, int, int]], *, wait_ms: float | None = None,
    grace_ms: float | None = None,
) -> list[dict]:
    """For each ``(origin, n, expect)``, in one Chromium: open ``n`` streams, wait until
    ``expect`` have their first event (at most ``wait_ms``, default ``scaled`` 3000), then
    ``grace_ms`` more (default ``scaled`` 500) for any others, and record ``"before"``; close
    streams 0 and 1 and wait (at most ``wait_ms``) for all to open: ``"after"``. Each result:
    ``{"before": [ms | None per stream], "after": [...], "closedAt": ms, "settings": ...}``."""
    wait_ms = scaled(3000) if wait_ms is None else wait_ms
    grace_ms = scaled(500) if grace_ms is None else grace_ms
    return await _on_pages([
        (origin, CEILING_SCRIPT,
         {"n": n, "expect": expect, "wait": wait_ms, "grace": grace_ms, "after": wait_ms})
        for origin, n, expect in runs
    ])


async def websocket_from_page(origin: str, *, first_from: str | None = None) -> dict:
    """``{"got": echo, "ms": round trip, "page": the page's protocol, "settings": ...,
    "netlog": ..., "elsewhere": ...}``. With ``first_from`` (a page of another origin, such as
    ``lab.browser.blank_page_app``'s), the same Chromium first opens the WebSocket from that
    page, before it has any connection to ``origin``: ``"elsewhere"`` is that visit's result
    (``None`` without ``first_from``)."""
    url = "wss://" + origin.split("//", 1)[1] + "/ws"
    visits = [(first_from, WEBSOCKET_SCRIPT, url)] if first_from else []
    *before, result = await _on_pages([*visits, (origin, WEBSOCKET_SCRIPT, None)])
    return {**result, "elsewhere": before[0] if before else None}


def netlog_http2(path: Path) -> dict:
    """From a Chromium NetLog: ``{"settings": {"host:port": {name: value}} the server of each
    HTTP/2 session sent, "websocket_request": [header lines] of an extended CONNECT
    (``:protocol: websocket``) or None, "websocket_response": [header lines] answering it, or
    None}``."""
    log = json.loads(Path(path).read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    hosts, settings, request, response, stream = {}, {}, None, None, None
    for event in log["events"]:
        kind, params = names.get(event["type"]), event.get("params") or {}
        source = event["source"]["id"]
        if kind == "HTTP2_SESSION" and "host" in params:
            hosts[source] = params["host"]
        elif kind == "HTTP2_SESSION_RECV_SETTING":
            name = params["id"].split("(")[-1].rstrip(")")
            settings.setdefault(hosts.get(source, "?"), {})[name] = params["value"]
        elif kind == "HTTP2_SESSION_SEND_HEADERS" and ":protocol: websocket" in params.get(
            "headers", []
        ):
            request, stream = params["headers"], (source, params["stream_id"])
        elif kind == "HTTP2_SESSION_RECV_HEADERS" and stream == (source, params.get("stream_id")):
            response = response or params["headers"]
    return {"settings": settings, "websocket_request": request, "websocket_response": response}
