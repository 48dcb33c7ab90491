"""servers.http2 with real Chromium: six streams per origin over HTTP/1.1, all eight over HTTP/2."""

from __future__ import annotations

import asyncio

import httpx
from support import needs

from lab.connection_limit import streams_in_browser
from servers.http2 import serve_tls


def eight_streams(server) -> list[str]:
    return [f"{server.url}/events?stream={k}" for k in range(8)]


def test_over_http_1_1_chromium_opens_six_streams_and_the_rest_and_a_fetch_stall():
    needs("chromium")
    with serve_tls(http2=False) as server:
        result = asyncio.run(streams_in_browser(server.url + "/", eight_streams(server)))
    assert result["protocol"] == "http/1.1"
    assert sum(first is not None for first in result["firsts"]) == 6
    assert result["firsts"][6:] == [None, None]
    assert result["fetched"] is None
    assert server.streams.most == 6


def test_over_http_2_chromium_opens_all_eight_streams_and_fetch_still_works():
    needs("chromium")
    with serve_tls(http2=True) as server:
        result = asyncio.run(streams_in_browser(server.url + "/", eight_streams(server)))
    assert result["protocol"] == "h2"
    assert all(first is not None for first in result["firsts"])
    assert result["fetched"] is not None
    assert server.streams.most == 8


def test_the_same_app_speaks_http_2_only_when_offered():
    for http2, version in [(True, "HTTP/2"), (False, "HTTP/1.1")]:
        with serve_tls(http2=http2) as server, httpx.Client(http2=True, verify=False) as client:
            response = client.get(server.url + "/ping")
        assert (response.http_version, response.text) == (version, "pong")


def test_a_stream_tells_caches_neither_to_store_nor_to_transform_it():
    with (
        serve_tls(http2=True) as server,
        httpx.Client(http2=True, verify=False) as client,
        client.stream("GET", server.url + "/events?stream=1") as response,
    ):
        assert response.headers["cache-control"] == "no-store, no-transform"


def test_a_stream_counts_while_open_and_stop_is_idempotent():
    server = serve_tls(http2=True)
    with (
        httpx.Client(http2=True, verify=False) as client,
        client.stream("GET", server.url + "/events?stream=1") as response,
    ):
        chunks = response.iter_raw()
        assert b"stream 1 open" in next(chunks)
        assert server.streams.open == 1
    server.stop()
    server.stop()
    assert server.streams.open == 0


def test_entering_a_started_server_does_not_start_a_second_one():
    from servers import runtime

    before = set(runtime.pending_tasks())
    with serve_tls(http2=True) as server:
        port = server.port
    assert server.port == port
    assert set(runtime.pending_tasks()) - before == set()
