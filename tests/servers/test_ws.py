"""GET /ws: posts down, {"text": ...} up, Origin checks, and a clean close when the server stops."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from servers import serve
from servers.feed import Feed, make_app
from servers.ws import origin_allowed


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def next_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_a_post_published_anywhere_reaches_every_socket_as_json(feed_server, feed):
    async def scenario():
        async with (
            websockets.connect(ws_url(feed_server)) as one,
            websockets.connect(ws_url(feed_server)) as two,
        ):
            await asyncio.to_thread(lambda: None)
            feed.publish("from the kernel")
            first = [await next_json(one), await next_json(two)]
            await one.send(json.dumps({"text": "from a socket"}))
            second = [await next_json(one), await next_json(two)]
        return first, second

    first, second = asyncio.run(scenario())
    assert [p["text"] for p in first] == ["from the kernel"] * 2
    assert [p["text"] for p in second] == ["from a socket"] * 2
    assert [p["text"] for p in feed.since(0)] == ["from the kernel", "from a socket"]


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        ("{broken", "Expecting"),
        ('{"title": "x"}', '{"text"'),
        ('{"text": ""}', "is empty"),
        (b"\x00binary", "not binary"),
    ],
)
def test_a_malformed_message_gets_an_error_back_and_the_socket_stays_up(
    feed_server, feed, sent, says
):
    async def scenario():
        async with websockets.connect(ws_url(feed_server)) as ws:
            await ws.send(sent)
            error = await next_json(ws)
            await ws.send(json.dumps({"text": "still up"}))
            return error, await next_json(ws)

    error, post = asyncio.run(scenario())
    assert says in error["error"]
    assert post["text"] == "still up"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost:8888", True),
        ("http://127.0.0.1:1234", True),
        ("https://[::1]:8888", True),
        ("http://evil.example", False),
        ("null", False),
        ("http://localhost.evil.example", False),
    ],
)
def test_by_default_only_loopback_origins_and_non_browsers_may_connect(origin, allowed):
    assert origin_allowed(origin, None) is allowed


def test_a_refused_origin_gets_403_before_any_upgrade_and_an_allow_list_is_obeyed():
    app = make_app(Feed(), allowed_origins=["https://course.example"])
    with serve(app) as server:

        async def handshake(origin):
            try:
                async with websockets.connect(ws_url(server), origin=origin):
                    return 101
            except websockets.InvalidStatus as refused:
                return refused.response.status_code

        assert asyncio.run(handshake("https://course.example")) == 101
        assert asyncio.run(handshake("http://localhost:8888")) == 403


def test_stopping_the_server_closes_sockets_with_1001():
    server = serve(make_app(Feed()))

    async def scenario():
        async with websockets.connect(ws_url(server)) as ws:
            await asyncio.to_thread(server.stop)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert asyncio.run(scenario()) == 1001
