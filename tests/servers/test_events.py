"""GET /events: the feed as Server-Sent Events, replay after Last-Event-ID, gaps, heartbeats."""

from __future__ import annotations

import asyncio
import json
import threading
from unittest import mock

import httpx
import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.test_utils import make_mocked_request
from support import wait_until

from servers import serve
from servers.backplane import BackplaneFeed, MemoryBroker
from servers.events import EventOptions, stream_events
from servers.feed import Feed, make_app
from servers.sse import EventParser


def read_events(url: str, count: int, *, headers=None, params=None, feed=None, publish=()):
    """Open the stream; once the server is waiting for new posts, publish the texts
    ``publish`` to ``feed`` in order; return (response, first events, parser)."""
    parser, events = EventParser(), []
    with httpx.stream("GET", url + "/events", headers=headers, params=params, timeout=5) as r:
        if publish:
            threading.Thread(target=publish_once_waiting, args=(feed, publish)).start()
        for chunk in r.iter_raw():
            events += parser.feed(chunk)
            if len(events) >= count:
                break
    return r, events[:count], parser


def publish_once_waiting(feed: Feed, texts) -> None:
    wait_until(lambda: feed.waiting == 1, what="the stream to wait for new posts")
    for text in texts:
        feed.publish(text)


def test_the_stream_has_the_headers_a_browser_and_a_proxy_need(feed_server):
    response, events, parser = read_events(feed_server.url, 0)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-store, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_new_client_gets_each_new_post_as_an_event_with_its_id(feed_server, feed):
    feed.publish("before the client came")
    _, events, parser = read_events(feed_server.url, 2, feed=feed, publish=["first", "second"])
    posts = [json.loads(e.data) for e in events]
    assert [p["text"] for p in posts] == ["first", "second"]
    assert [e.last_event_id for e in events] == ["2", "3"]
    assert {e.type for e in events} == {"message"}
    assert parser.retry == 3000


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_returning_client_gets_what_it_missed_first_and_nothing_twice(feed_server, feed, how):
    for text in "abcd":
        feed.publish(text)
    ask = {"headers": {"Last-Event-ID": "2"}} if how == "header" else {"params": {"lastEventId": 2}}
    _, events, _ = read_events(feed_server.url, 3, feed=feed, publish=["e"], **ask)
    assert [json.loads(e.data)["text"] for e in events] == ["c", "d", "e"]


def test_a_client_older_than_the_history_is_told_about_the_gap():
    feed = Feed(history=3)
    for n in range(10):
        feed.publish(f"post {n + 1}")
    with serve(make_app(feed)) as server:
        _, events, _ = read_events(server.url, 4, headers={"Last-Event-ID": "2"})
    assert events[0].type == "gap"
    assert json.loads(events[0].data) == {"missed_after": 2, "oldest_held": 8}
    assert [e.last_event_id for e in events[1:]] == ["8", "9", "10"]


def test_a_client_ahead_of_the_feed_is_told_it_was_reset_and_gets_the_history(feed_server, feed):
    feed.publish("the only post of a fresh feed")
    _, events, _ = read_events(feed_server.url, 2, headers={"Last-Event-ID": "41"})
    assert events[0].type == "reset"
    assert json.loads(events[0].data)["resume_after"] == 0
    assert json.loads(events[1].data)["text"] == "the only post of a fresh feed"


@pytest.mark.parametrize("value", ["abc", "-3", "1.5"])
def test_a_malformed_last_event_id_is_answered_with_a_reset_and_the_stream_goes_on(
    feed_server, feed, value
):
    feed.publish("before")
    response, events, _ = read_events(
        feed_server.url, 2, headers={"Last-Event-ID": value}, feed=feed, publish=["after"]
    )
    assert response.status_code == 200
    assert events[0].type == "reset"
    notice = json.loads(events[0].data)
    assert "Last-Event-ID" in notice["reason"] and notice["resume_after"] == 1
    assert json.loads(events[1].data)["text"] == "after"


def test_a_quiet_stream_carries_heartbeat_comments():
    with (
        serve(make_app(Feed(), heartbeat=0.05)) as server,
        httpx.stream("GET", server.url + "/events", timeout=5) as response,
    ):
        received = b""
        for chunk in response.iter_raw():
            received += chunk
            if received.count(b": heartbeat") >= 2:
                break
    assert received.startswith(b"retry: 3000\n\n: heartbeat\n\n")


def test_a_client_that_leaves_leaves_nothing_behind(feed_server, feed):
    with httpx.stream("GET", feed_server.url + "/events", timeout=5) as response:
        chunks = response.iter_raw()  # kept: a dropped iterator would close the stream
        next(chunks)
        wait_until(lambda: feed.waiting == 1, what="the stream to be waiting")
    wait_until(lambda: feed.waiting == 0, what="the server to notice the client left")


def test_a_client_gone_before_the_headers_ends_the_handler_quietly():
    """Seen in lesson 05 (the book's check found it): Chromium dropped a waiting EventSource as
    its headers were written, and aiohttp logged 'Error handling request' into a later cell."""
    async def closed_before_headers():
        transport = mock.Mock()
        transport.is_closing.return_value = True  # the peer is gone
        protocol = mock.Mock(transport=transport)
        writer = StreamWriter(protocol, asyncio.get_running_loop())
        request = make_mocked_request(
            "GET", "/events", writer=writer, transport=transport, protocol=protocol
        )
        return await stream_events(request, Feed(), EventOptions())

    response = asyncio.run(closed_before_headers())  # raised ClientConnectionResetError before
    assert isinstance(response, web.StreamResponse)


def test_a_post_made_while_the_headers_go_out_reaches_a_new_client():
    """A new client starts from the newest post when its request was handled, not from the
    newest once its headers and ``retry:`` were written: a client that publishes as soon as
    it has its headers (lab.proxy_hop's measurement) gets that post. Reading ``feed.last_id``
    after ``prepare()`` instead skips the post made here, between the two."""
    feed = Feed()
    app = web.Application()

    async def events(request):
        return await stream_events(request, feed, EventOptions())

    async def publish_during_prepare(request, response):
        if request.path == "/events":
            feed.publish("made while the headers went out")

    app.router.add_get("/events", events)
    app.on_response_prepare.append(publish_during_prepare)
    server = serve(app, name="test prepare race")
    try:
        _, got, _ = read_events(server.url, 1)
    finally:
        server.stop()
    assert [json.loads(e.data)["text"] for e in got] == ["made while the headers went out"]


def test_a_client_back_with_an_id_its_new_backend_s_relay_has_not_reached_yet_is_not_reset():
    """On a backplane a client may come back with the id of a post a quicker backend already
    served, before this backend's relay has it: the stream waits for the relay (``feed.lags``)
    instead of calling it a reset and replaying the whole history as duplicates."""
    feed = BackplaneFeed(MemoryBroker(), history=100)
    for n in (1, 2, 3):
        feed.add({"id": n, "text": f"post {n}", "ts": 0.0})
    app = web.Application()

    async def events(request):
        return await stream_events(request, feed, EventOptions())

    def relay_catches_up():
        wait_until(lambda: feed.waiting == 1, what="the stream to wait for its relay")
        for n in (4, 5, 6):
            feed.add({"id": n, "text": f"post {n}", "ts": 0.0})

    app.router.add_get("/events", events)
    server = serve(app, name="test trailing relay")
    try:
        threading.Thread(target=relay_catches_up).start()
        _, got, _ = read_events(server.url, 1, headers={"Last-Event-ID": "5"})
    finally:
        server.stop()
    assert [(e.type, e.last_event_id) for e in got] == [("message", "6")]
