"""Chromium on one HTTP/2 connection: many streams, the server's ceiling, and a WebSocket inside
(lesson 13).

``streams_past_ceiling(origin, n)`` opens a page of ``origin`` (``servers.multiplex``) and
``n`` ``EventSource``s on it, waits, records which had their first event, closes the first
two, waits again and records again: streams past the server's
``SETTINGS_MAX_CONCURRENT_STREAMS`` wait for a slot, and take one when a stream closes.
``websocket_from_page(origin)`` opens a ``wss://`` WebSocket to the page's own origin and
echoes a message. Both run Chromium with ``--log-net-log`` and return what its NetLog says
(``netlog_http2``): the SETTINGS the server sent, and the WebSocket's request and response
headers when it went inside HTTP/2 (RFC 8441).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lab.browser import open_browser
from servers.timing import scaled

CEILING_SCRIPT = """async ({n, wait}) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const started = performance.now();
  const firsts = Array(n).fill(null), sources = [];
  for (let k = 0; k < n; k++) {
    const source = new EventSource("/events?stream=" + k);
    source.onmessage = () => { if (firsts[k] === null) firsts[k] = performance.now() - started; };
    sources.push(source);
  }
  await sleep(wait);
  const before = firsts.slice();
  const closedAt = performance.now() - started;
  sources[0].close();
  sources[1].close();
  await sleep(wait);
  sources.forEach(source => source.close());
  return {before, after: firsts, closedAt};
}"""

WEBSOCKET_SCRIPT = """async () => {
  const ws = new WebSocket("wss://" + location.host + "/ws");
  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = () => no(new Error("no open")); });
  const started = performance.now();
  const echoed = new Promise(ok => { ws.onmessage = e => ok(e.data); });
  ws.send("hello");
  const got = await echoed;
  const ms = performance.now() - started;
  ws.close();
  return {got, ms, page: performance.getEntriesByType("navigation")[0].nextHopProtocol};
}"""


async def _on_page(origin: str, script: str, argument=None) -> dict:
    with tempfile.TemporaryDirectory(prefix="course-netlog-") as folder:
        log = Path(folder, "netlog.json")
        args = ["--ignore-certificate-errors", f"--log-net-log={log}"]
        async with open_browser(extra_args=args) as browser:
            page = await browser.new_page()
            await page.goto(origin + "/")
            result = await page.evaluate(script, argument)
        result["netlog"] = netlog_http2(log)  # complete once the browser has closed
    return result


async def streams_past_ceiling(origin: str, n: int, *, wait_ms: float | None = None) -> dict:
    """``{"before": [ms | None per stream], "after": [...], "closedAt": ms, "netlog": ...}``:
    first events before and after streams 0 and 1 closed (``wait_ms``: ``scaled`` 1000)."""
    wait_ms = scaled(1000) if wait_ms is None else wait_ms
    return await _on_page(origin, CEILING_SCRIPT, {"n": n, "wait": wait_ms})


async def websocket_from_page(origin: str) -> dict:
    """``{"got": echo, "ms": round trip, "page": the page's protocol, "netlog": ...}``."""
    return await _on_page(origin, WEBSOCKET_SCRIPT)


def netlog_http2(path: Path) -> dict:
    """From a Chromium NetLog: ``{"settings": {name: value} the server sent over HTTP/2,
    "websocket_request": [header lines] of an extended CONNECT (``:protocol: websocket``) or
    None, "websocket_response": [header lines] answering it, or None}``."""
    log = json.loads(Path(path).read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    settings, request, response, stream = {}, None, None, None
    for event in log["events"]:
        kind, params = names.get(event["type"]), event.get("params", {})
        if kind == "HTTP2_SESSION_RECV_SETTING":
            settings[params["id"].split("(")[-1].rstrip(")")] = params["value"]
        elif kind == "HTTP2_SESSION_SEND_HEADERS" and ":protocol: websocket" in params.get(
            "headers", []
        ):
            request, stream = params["headers"], (event["source"]["id"], params["stream_id"])
        elif kind == "HTTP2_SESSION_RECV_HEADERS" and stream == (
            event["source"]["id"],
            params.get("stream_id"),
        ):
            response = response or params["headers"]
    return {"settings": settings, "websocket_request": request, "websocket_response": response}
