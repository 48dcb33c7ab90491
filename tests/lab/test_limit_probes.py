"""lab.limit_probes against the feed with its default limits (and a socket cap asked for)."""

from __future__ import annotations

import asyncio

import pytest

from lab.limit_probes import flood, one_too_many, origins_answered, oversized, unfinished_head
from servers import serve
from servers.feed import Feed, make_app


@pytest.fixture
def limited():
    feed = Feed()
    app = make_app(feed, allowed_origins=["http://localhost:4123"], sockets_per_address=2,
                   head_timeout=0.5)
    with serve(app, name="test-limits") as server:
        yield server, feed


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


def test_a_100_kib_message_is_closed_1009_with_the_limit_as_reason(limited):
    server, _ = limited
    closed = asyncio.run(oversized(ws_url(server), 100 * 1024))
    assert closed.code == 1009 and "65536" in closed.reason


def test_a_flood_gets_errors_then_1008_while_a_bystander_still_publishes(limited):
    server, feed = limited
    result = asyncio.run(flood(ws_url(server), 130))
    published = feed.last_id - 1  # the bystander's post is the last one
    assert 100 <= published < 130  # the burst's worth (a slow run may earn a token back)
    assert len(result.errors) >= 10 and all("rate limit" in e for e in result.errors)
    assert result.closed.code == 1008 and "policy violation" in result.closed.reason
    assert result.bystander_received


def test_one_socket_past_the_cap_gets_429_saying_why(limited):
    server, _ = limited
    answers = asyncio.run(one_too_many(ws_url(server), 2))
    assert [status for status, _ in answers] == [101, 101, 429]
    assert "at most 2" in answers[-1][1]


def test_a_head_that_never_ends_is_closed_with_no_answer(limited):
    server, _ = limited
    result = unfinished_head(server.host, server.port, within=10)
    assert result.closed_by_server and result.answer == b""


def test_only_the_exact_origin_or_none_is_let_through(limited):
    server, _ = limited
    answers = asyncio.run(origins_answered(ws_url(server), {
        "exact": "http://localhost:4123", "port": "http://localhost:41237",
        "suffix": "http://localhost.evil.localhost", "null": "null", "none": None}))
    assert {name: status for name, (status, _) in answers.items()} == {
        "exact": 101, "port": 403, "suffix": 403, "null": 403, "none": 101}
    assert "allow-list" in answers["suffix"][1] and "opaque origin" in answers["null"][1]
