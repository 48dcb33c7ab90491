"""lab.hijack: the private feed, its Origin gates, and attacker pages in a real Chromium."""

from __future__ import annotations

import asyncio

import pytest
from support import needs

from lab.hijack import (
    STATE,
    USER,
    Gate,
    Trial,
    anything,
    attack,
    browser_url,
    exact,
    file_page,
    forged_handshake,
    prefix,
    private_feed_app,
    python_login,
    serve_feed_and_sibling,
    substring,
    temporary_folder,
    with_null,
)
from servers import serve

FEED = "http://localhost:4123"


@pytest.mark.parametrize(
    ("origin", "exact_passes", "prefix_passes", "substring_passes"),
    [
        (FEED, True, True, True),
        ("http://localhost:41237", False, True, True),
        ("http://localhost:4123.evil.localhost", False, True, True),
        ("http://evil.localhost:4123", False, False, True),
        ("null", False, False, False),
        ("https://localhost:4123", False, False, True),
    ],
)
def test_only_the_exact_allow_list_refuses_every_lookalike_origin(
    origin, exact_passes, prefix_passes, substring_passes
):
    assert exact(FEED)(origin) is exact_passes
    assert prefix(FEED)(origin) is prefix_passes
    assert substring("localhost:4123")(origin) is substring_passes


def test_allowing_null_lets_every_sandboxed_page_through_whatever_else_is_checked():
    gate = with_null(exact(FEED))
    assert gate("null") and gate(FEED) and not gate("http://evil.localhost:1")
    assert anything("null") and anything(None)


@pytest.fixture
def private_feed():
    with serve(private_feed_app(), name="test-private-feed") as feed:
        yield feed


def test_a_forged_origin_gets_the_socket_only_with_the_victims_cookie(private_feed):
    state = private_feed.app[STATE]
    url = f"ws://127.0.0.1:{private_feed.port}/ws"
    cookie = python_login(private_feed.url, state.password)
    assert asyncio.run(forged_handshake(url, "http://evil.localhost:1", None)) == 401
    assert asyncio.run(forged_handshake(url, None, None)) == 401  # no Origin: still no cookie
    assert asyncio.run(forged_handshake(url, "http://evil.localhost:1", cookie)) == 101
    state.gate = Gate(exact(FEED))
    assert asyncio.run(forged_handshake(url, "http://evil.localhost:1", cookie)) == 403
    assert [(h.origin, h.cookie, h.status) for h in state.handshakes] == [
        ("http://evil.localhost:1", False, 401), (None, False, 401),
        ("http://evil.localhost:1", True, 101), ("http://evil.localhost:1", True, 403)]


def test_a_wrong_password_sets_no_session(private_feed):
    import httpx

    answer = httpx.post(private_feed.url + "/login", data={"user": USER, "password": "guess"})
    assert answer.status_code == 403 and "session" not in answer.cookies


def test_the_sibling_pages_port_starts_with_the_feeds():
    feed, pages = serve_feed_and_sibling(name="test-sibling")
    try:
        assert str(pages.port).startswith(str(feed.port)) and pages.port != feed.port
        assert feed.host == pages.host == "127.0.0.1"
    finally:
        pages.stop()
        feed.stop()


def test_in_chromium_a_same_site_page_hijacks_the_socket_unless_the_origin_is_checked():
    needs("chromium")
    feed, pages = serve_feed_and_sibling(name="test-hijack")
    same = {"same site": browser_url(pages, path="/")}
    cross = {"cross site": browser_url(pages, "evil.localhost", "/")}
    with temporary_folder() as folder:
        nulls = {"sandboxed": browser_url(pages, path="/sandboxed"),
                 "file": file_page(f"ws://localhost:{feed.port}/ws", folder)}
        trials = {"off": Trial(Gate(), same), "exact": Trial(Gate(exact(browser_url(feed))), same),
                  "cross": Trial(Gate(), cross), "open": Trial(Gate(auth=False), cross),
                  "null": Trial(Gate(with_null(exact(browser_url(feed))), auth=False), nulls)}
        try:
            seen = asyncio.run(attack(feed, trials, 20_000))
        finally:
            pages.stop()
            feed.stop()
    assert seen["off"]["same site"].hijacked and seen["off"]["same site"].handshake.cookie
    assert seen["exact"]["same site"].handshake.status == 403
    assert not seen["exact"]["same site"].opened and seen["exact"]["same site"].close == 1006
    assert not seen["cross"]["cross site"].handshake.cookie  # SameSite=Lax by default
    assert seen["cross"]["cross site"].handshake.status == 401
    assert seen["open"]["cross site"].hijacked  # no auth: any page reads it
    assert {v.handshake.origin for v in seen["null"].values()} == {"null"}
    assert all(v.hijacked for v in seen["null"].values())
