"""The feed's /ws limits (lesson 12), against the independent ``websockets`` client and raw
sockets: 1009 for a message over 64 KiB, an in-band error then 1008 past the rate, an
optional per-address cap, and a deadline for the request head; each says why, and the server
keeps serving."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import websockets

from servers import runtime, serve, ws_limits
from servers.feed import Feed, make_app
from servers.timing import scaled, wait_until


def ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def next_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))


async def closed_with(ws) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), scaled(5))
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason


async def publish_and_read(url: str, text: str) -> str:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": text}))
        return (await next_json(ws))["text"]


def test_a_100_kib_message_gets_1009_with_a_reason_and_the_server_keeps_serving(feed_server):
    url = ws_url(feed_server)

    async def scenario():
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            await ws.send("x" * 100 * 1024)
            closed = await closed_with(ws)
        return closed, await publish_and_read(url, "still serving")

    (code, reason), after = asyncio.run(scenario())
    assert code == 1009 and reason == "message too big: this server takes at most 65536 bytes"
    assert after == "still serving"


def test_a_message_of_exactly_64_kib_is_taken_and_an_app_may_ask_for_less():
    with serve(make_app(Feed()), name="test-ws-64k") as server:

        async def exactly_64k():
            async with websockets.connect(ws_url(server), compression=None) as ws:
                await ws.send("x" * ws_limits.MAX_MESSAGE)
                return await next_json(ws)  # not JSON: an error back, the socket still up

        assert "error" in asyncio.run(exactly_64k())
    with serve(make_app(Feed(), max_message=1000), name="test-ws-1000") as server:

        async def over_1000():
            async with websockets.connect(ws_url(server)) as ws:
                await ws.send(json.dumps({"text": "y" * 1000}))
                return await closed_with(ws)

        assert asyncio.run(over_1000()) == (
            1009,
            "message too big: this server takes at most 1000 bytes",
        )


def test_by_default_a_socket_may_send_100_messages_at_once_and_the_101st_is_refused(
    feed, feed_server
):
    async def scenario():
        async with websockets.connect(ws_url(feed_server)) as ws:
            for n in range(ws_limits.RATE + 1):
                await ws.send(json.dumps({"text": f"m{n}"}))
            while True:
                message = await next_json(ws)
                if "error" in message:
                    return message["error"]

    error = asyncio.run(scenario())
    assert error.startswith("rate limit: at most 100 messages per 60 s on one socket")
    assert len(feed.since(0)) == ws_limits.RATE


def test_past_its_rate_a_socket_gets_errors_then_1008_while_another_socket_publishes():
    feed = Feed()
    with serve(make_app(feed, publish_rate=(3, 60)), name="test-ws-rate") as server:
        url = ws_url(server)

        async def scenario():
            async with websockets.connect(url) as noisy, websockets.connect(url) as calm:
                for n in range(3 + ws_limits.STRIKES + 1):
                    await noisy.send(json.dumps({"text": f"noisy {n}"}))
                errors, close = [], None
                try:
                    while True:
                        message = await next_json(noisy)
                        errors += [message["error"]] if "error" in message else []
                except websockets.ConnectionClosed as closed:
                    close = (closed.rcvd.code, closed.rcvd.reason)
                await calm.send(json.dumps({"text": "calm"}))
                while (await next_json(calm))["text"] != "calm":
                    pass
            return errors, close, await publish_and_read(url, "a new socket")

        errors, close, after = asyncio.run(scenario())
    assert len(errors) == ws_limits.STRIKES
    assert all("this one was dropped" in e for e in errors) and "1 of 10 refusals" in errors[0]
    assert close == (1008, "policy violation: kept sending over 3 messages per 60 s")
    assert [p["text"] for p in feed.since(0)][:3] == ["noisy 0", "noisy 1", "noisy 2"]
    assert {p["text"] for p in feed.since(0)} == {
        "noisy 0",
        "noisy 1",
        "noisy 2",
        "calm",
        "a new socket",
    }
    assert after == "a new socket"


def test_no_rate_limit_when_the_app_turns_it_off(feed):
    with serve(make_app(feed, publish_rate=None), name="test-ws-norate") as server:

        async def scenario():
            async with websockets.connect(ws_url(server)) as ws:
                for n in range(300):
                    await ws.send(json.dumps({"text": f"m{n}"}))
                return [await next_json(ws) for _ in range(300)]

        assert all("error" not in m for m in asyncio.run(scenario()))


def test_by_default_a_thousand_sockets_from_one_address_are_not_capped(feed_server):
    async def scenario():
        sockets = [await websockets.connect(ws_url(feed_server)) for _ in range(200)]
        try:
            return len(sockets)
        finally:
            await asyncio.gather(*(s.close() for s in sockets))

    assert asyncio.run(scenario()) == 200


def test_an_app_may_cap_the_sockets_one_address_holds_open_and_429_says_so():
    with serve(make_app(Feed(), sockets_per_address=2), name="test-ws-cap") as server:
        app, url = server.app, ws_url(server)

        async def scenario():
            first, second = [await websockets.connect(url) for _ in range(2)]
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url)
            await first.close()
            await asyncio.to_thread(wait_until, lambda: _open(app) < 2, 5, "a socket's end")
            third = await websockets.connect(url)
            await asyncio.gather(second.close(), third.close())
            return refused.value.response

        response = asyncio.run(scenario())
    assert response.status_code == 429
    assert (
        "too many WebSockets from 127.0.0.1: at most 2 open at once"
        in json.loads(response.body)["error"]
    )


def _open(app) -> int:
    from servers.feed import SOCKETS

    return sum(1 for ws in app[SOCKETS] if not ws.closed)


def _closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing ``sock`` (``None`` if it was still open)."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    return received


@pytest.mark.parametrize(
    "head", [b"", b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET /posts HTTP/1.1\r\n"]
)
def test_a_connection_that_never_finishes_its_request_head_is_closed(head):
    with serve(make_app(Feed(), head_timeout=0.5), name="test-head-timeout") as server:
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(head)
            assert _closed_by_server(sock, scaled(10)) == b"", "still open after 20 head timeouts"
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(b"GET /posts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _closed_by_server(sock, scaled(10)).startswith(b"HTTP/1.1 200")


def test_a_head_trickled_a_byte_at_a_time_does_not_push_the_deadline_back():
    head = b"GET /posts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400
    app = make_app(Feed(), head_timeout=0.5)
    with (
        serve(app, name="test-head-trickle") as server,
        socket.create_connection((server.host, server.port)) as sock,
    ):
        sock.settimeout(scaled(10))
        try:
            for byte in head:  # 400 bytes, 20 ms apart: 8 s, sixteen head timeouts
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
            pytest.fail("the whole trickled head went in without the server closing")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while the head was still arriving


def test_the_head_timeout_does_not_cut_an_open_websocket_or_stream(feed):
    with serve(make_app(feed, head_timeout=0.3), name="test-head-open") as server:

        async def scenario():
            async with websockets.connect(ws_url(server), ping_interval=None) as ws:
                await asyncio.sleep(1.0)  # more than three head timeouts with the socket idle
                await asyncio.to_thread(feed.publish, "after the quiet")
                return (await next_json(ws))["text"]

        assert asyncio.run(scenario()) == "after the quiet"


def test_the_feed_asks_for_the_runtimes_20_second_head_timeout_by_default():
    assert make_app(Feed())[runtime.HEAD_TIMEOUT_KEY] == runtime.HEAD_TIMEOUT == 20.0


def test_the_limit_counts_a_compressed_message_after_inflating_it(feed_server):
    url = ws_url(feed_server)

    async def scenario():
        async with websockets.connect(url, max_size=None, compression="deflate") as ws:
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            await ws.send("x" * 100 * 1024)  # 100 KiB of x: a few hundred bytes deflated
            closed = await closed_with(ws)
        return closed, await publish_and_read(url, "still serving")

    (code, reason), after = asyncio.run(scenario())
    assert (code, reason) == (1009, "message too big: this server takes at most 65536 bytes")
    assert after == "still serving"
