"""lab.webtransport_page: a WebTransport session from Chromium, timed beside a WebSocket."""

from __future__ import annotations

import asyncio

from support import needs

from lab.browser import blank_page_app
from lab.echo import serve_ws_echo, ws_url
from lab.webtransport_page import webtransport_and_websocket
from servers import serve
from servers.http3 import serve_webtransport


def _run(**options) -> tuple[dict, object]:
    with serve(blank_page_app()) as page, serve_ws_echo() as echo, serve_webtransport() as wt:
        result = asyncio.run(webtransport_and_websocket(page.url, wt, ws_url(echo), **options))
    return result, wt


def test_chromium_times_a_stream_datagrams_and_a_websocket_and_counts_a_burst():
    needs("chromium")
    result, wt = _run(rounds=2, per_round=3, batch=2, burst=50, warmup=2)
    assert result["error"] is None
    times = result["comparison"]
    assert times.names == ["WebSocket", "WebTransport stream", "WebTransport datagram"]
    assert all(len(times.rounds[name]) == 2 and len(times.samples(name)) == 6
               for name in times.names)
    burst = result["burst"]
    assert burst["sent"] == 50 and 0 <= burst["back"] <= burst["reached_server"] <= 50
    assert wt.record.stream_bytes == 32 * (2 + 2 * 3 * 2)  # warm-up and timed, 32 B each


def test_a_certificate_chromium_was_not_told_about_is_an_error_not_a_hang():
    needs("chromium")
    with serve(blank_page_app()) as page, serve_ws_echo() as echo, serve_webtransport() as wt:
        wt.certificate_hash = bytes(32)  # pin a hash that is not the server's
        result = asyncio.run(webtransport_and_websocket(page.url, wt, ws_url(echo), wait_ms=3000))
    assert result["comparison"] is None and result["error"]
