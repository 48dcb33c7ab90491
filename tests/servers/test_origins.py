"""servers.origins: an exact Origin policy; every trick refused with a reason, live with 403."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from servers import serve
from servers.feed import Feed, make_app
from servers.origins import allow_list, parse_origin, refusal

TRICKS = [
    ("http://localhost.evil.localhost", "only pages on this machine"),  # suffix
    ("http://localhost.evil.example:8888", "only pages on this machine"),
    ("http://127.0.0.1.nip.io", "only pages on this machine"),
    ("http://evil.example@localhost", "not a serialized origin"),  # userinfo
    ("http://localhost@evil.example", "not a serialized origin"),
    ("http://localhost:8888@evil.example", "not a serialized origin"),
    ("http://localhost:99999", "not a serialized origin"),  # port out of range
    ("http://localhost:8888/path", "not a serialized origin"),
    ("http://localhost:8888/", "not a serialized origin"),
    ("HTTP://LOCALHOST:8888", "not a serialized origin"),
    ("ws://localhost:8888", "not a serialized origin"),
    ("file://", "not a serialized origin"),
    ("null", "opaque origin"),
    ("", "not a serialized origin"),
]


@pytest.mark.parametrize("origin", ["http://localhost:8888", "http://127.0.0.1", "https://[::1]:1"])
def test_by_default_a_loopback_page_on_any_port_may_connect(origin):
    assert refusal(origin) is None


def test_a_client_that_sends_no_origin_is_no_browser_and_is_let_through():
    assert refusal(None) is None
    assert refusal(None, frozenset({"https://course.example"})) is None


@pytest.mark.parametrize(("origin", "says"), TRICKS)
def test_by_default_every_trick_is_refused_with_a_reason(origin, says):
    assert says in refusal(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://course.example.evil.example",  # suffix
        "https://course.exampl",  # prefix of the allowed one
        "https://course.example:8443",  # another port
        "http://course.example",  # another scheme
        "https://evil.example@course.example",
        "https://course.example/",
        "null",
    ],
)
def test_an_allow_list_matches_whole_origins_only(origin):
    allowed = allow_list(["https://course.example"])
    assert refusal("https://course.example", allowed) is None
    assert refusal(origin, allowed) is not None


@pytest.mark.parametrize(
    "entry", ["https://course.example/", "https://Course.example", "null", "course.example"]
)
def test_an_allow_list_entry_no_browser_could_send_is_refused_when_the_app_is_made(entry):
    with pytest.raises(ValueError, match="cannot be allowed"):
        make_app(Feed(), allowed_origins=[entry])


def test_a_single_string_is_no_allow_list():
    with pytest.raises(TypeError, match="not one string"):
        allow_list("https://course.example")


def test_parse_origin_reads_scheme_host_and_port():
    assert parse_origin("http://localhost:8888") == ("http", "localhost", 8888)
    assert parse_origin("https://[::1]") == ("https", "[::1]", None)
    assert parse_origin("http://localhost:0") is None


def test_every_refused_handshake_gets_403_whose_body_says_why_and_the_server_keeps_serving():
    feed = Feed()
    with serve(make_app(feed), name="test-origins-live") as server:
        url = server.url.replace("http://", "ws://") + "/ws"

        async def handshake(origin):
            try:
                async with websockets.connect(url, origin=origin):
                    return 101, ""
            except websockets.InvalidStatus as refused:
                return refused.response.status_code, json.loads(refused.response.body)["error"]

        async def scenario():
            answers = [await handshake(origin) for origin, _ in TRICKS if origin]
            return answers, await handshake(f"http://localhost:{server.port}")

        refused, allowed = asyncio.run(scenario())
    assert allowed == (101, "")
    for (origin, says), (status, error) in zip([t for t in TRICKS if t[0]], refused, strict=True):
        assert status == 403 and says in error and "refuses the handshake" in error, (origin, error)


def test_a_proxys_page_whose_origin_is_the_requests_host_may_connect():
    # jupyter-server-proxy on a hub: the page https://hub.example/... opens .../proxy/PORT/ws,
    # and the proxy passes Origin and Host on unchanged
    assert refusal("https://hub.example", host="hub.example", own_port=40001) is None
    assert refusal("http://lab.example:8888", host="lab.example:8888", own_port=40001) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://evil.example", "hub.example"),  # another page than the proxy's
        ("https://hub.example.evil.example", "hub.example"),  # a suffix of the Host
        ("http://hub.example", "hub.example:443"),  # scheme and port read apart
        ("http://evil.example:40001", "evil.example:40001"),  # DNS rebinding: names our port
        ("https://hub.example", None),  # no Host header
    ],
)
def test_only_an_origin_equal_to_a_host_on_another_port_counts_as_the_proxys_page(origin, host):
    assert "only pages on this machine" in refusal(origin, host=host, own_port=40001)


def _handshake_status(port: int, host: str, origin: str) -> int:
    import socket

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        return int(sock.recv(4096).split(b" ", 2)[1])


def test_the_feed_lets_a_proxys_page_in_and_refuses_a_rebinding_page_on_its_own_port():
    with serve(make_app(Feed()), name="test-origins-proxy") as server:
        assert _handshake_status(server.port, "hub.example", "https://hub.example") == 101
        own = f"evil.example:{server.port}"
        assert _handshake_status(server.port, own, f"http://{own}") == 403
