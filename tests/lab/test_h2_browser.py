"""lab.h2_browser: Chromium's streams under a server's ceiling, a WebSocket from an HTTP/2 page,
and what its NetLog records."""

from __future__ import annotations

import asyncio
import json

from support import needs

from lab.browser import blank_page_app
from lab.h2_browser import netlog_http2, streams_past_ceiling, websocket_from_page
from servers import serve
from servers.multiplex import serve_multiplexed


def _netlog(tmp_path, events):
    names = {"HTTP2_SESSION_RECV_SETTING": 1, "HTTP2_SESSION_SEND_HEADERS": 2,
             "HTTP2_SESSION_RECV_HEADERS": 3, "HTTP2_SESSION": 4}
    path = tmp_path / "netlog.json"
    path.write_text(json.dumps({"constants": {"logEventTypes": names}, "events": [
        {"type": names[kind], "source": {"id": source}, "params": params}
        for kind, source, params in events]}))
    return path


def test_netlog_http2_reads_each_sessions_settings_and_pairs_the_connect_with_its_stream(
    tmp_path,
):
    path = _netlog(tmp_path, [
        ("HTTP2_SESSION", 7, {"host": "127.0.0.1:1000"}),
        ("HTTP2_SESSION", 8, {"host": "127.0.0.1:2000"}),
        ("HTTP2_SESSION_RECV_SETTING", 7,
         {"id": "3 (SETTINGS_MAX_CONCURRENT_STREAMS)", "value": 4}),
        ("HTTP2_SESSION_RECV_SETTING", 8,
         {"id": "3 (SETTINGS_MAX_CONCURRENT_STREAMS)", "value": 100}),
        ("HTTP2_SESSION_SEND_HEADERS", 7, {"stream_id": 5, "headers": [":method: GET"]}),
        ("HTTP2_SESSION_SEND_HEADERS", 7, {"stream_id": 9, "headers": [
            ":method: CONNECT", ":protocol: websocket"]}),
        ("HTTP2_SESSION_RECV_HEADERS", 7, {"stream_id": 5, "headers": [":status: 404"]}),
        ("HTTP2_SESSION_RECV_HEADERS", 8, {"stream_id": 9, "headers": [":status: 500"]}),
        ("HTTP2_SESSION_RECV_HEADERS", 7, {"stream_id": 9, "headers": [":status: 200"]}),
    ])
    assert netlog_http2(path) == {
        "settings": {"127.0.0.1:1000": {"SETTINGS_MAX_CONCURRENT_STREAMS": 4},
                     "127.0.0.1:2000": {"SETTINGS_MAX_CONCURRENT_STREAMS": 100}},
        "websocket_request": [":method: CONNECT", ":protocol: websocket"],
        "websocket_response": [":status: 200"],
    }


def test_netlog_http2_says_none_when_no_websocket_went_inside_http2(tmp_path):
    path = _netlog(tmp_path, [
        ("HTTP2_SESSION_SEND_HEADERS", 7, {"stream_id": 1, "headers": [":method: GET"]})])
    assert netlog_http2(path)["websocket_request"] is None


def test_streams_past_the_servers_ceiling_wait_until_others_close_and_others_do_not():
    needs("chromium")
    with (serve_multiplexed(http2=True, max_concurrent_streams=3) as three,
          serve_multiplexed(http2=True) as default):
        low, wide = asyncio.run(streams_past_ceiling([(three.url, 5, 3), (default.url, 8, 8)]))
    assert low["settings"]["SETTINGS_MAX_CONCURRENT_STREAMS"] == 3
    assert [f is not None for f in low["before"]] == [True] * 3 + [False] * 2
    assert all(f is not None and f >= low["closedAt"] for f in low["after"][3:])
    assert wide["settings"]["SETTINGS_MAX_CONCURRENT_STREAMS"] == 100
    assert all(f is not None for f in wide["before"])


def test_a_websocket_from_an_http2_page_is_echoed_and_its_http_version_recorded():
    needs("chromium")
    with serve_multiplexed(http2=True) as origin:
        result = asyncio.run(websocket_from_page(origin.url))
    [socket] = origin.seen.websockets
    assert result["got"] == "hello" and result["page"] == "h2" and socket["echoed"] == 1
    inside = result["netlog"]["websocket_request"] is not None
    assert inside == (socket["http_version"] == "2")  # the two witnesses agree


def test_a_websocket_from_a_page_of_another_origin_goes_first_and_is_echoed_too():
    needs("chromium")
    with serve_multiplexed(http2=True) as origin, serve(blank_page_app(), name="elsewhere") as page:
        result = asyncio.run(websocket_from_page(origin.url, first_from=page.url))
    first, second = origin.seen.websockets  # the other origin's page opened its socket first
    assert result["elsewhere"]["got"] == result["got"] == "hello"
    assert result["elsewhere"]["page"] == "http/1.1" and result["page"] == "h2"
    assert first["echoed"] == second["echoed"] == 1
    assert (result["netlog"]["websocket_request"] is not None) == (second["http_version"] == "2")
