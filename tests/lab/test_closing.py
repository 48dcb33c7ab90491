"""lab.closing: each way a WebSocket ends, as the client reports it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

import pytest

from lab import closing, frames
from lab.echo import ws_url
from lab.meter import ByteMeter
from servers import serve
from servers.rfc6455 import CLOSE, decode_frame, encode_frame, serve_echo


def test_a_client_close_is_answered_with_1000(feed_server):
    seen = asyncio.run(closing.watch_close(ws_url(feed_server, "/ws"), lambda ws: ws.close()))
    assert seen == closing.CloseSeen(1000, "", True)


def test_stopping_the_feed_server_closes_with_1001(feed):
    from servers.feed import make_app

    server = serve(make_app(feed), name="test-closing-1001")
    seen = asyncio.run(
        closing.watch_close(ws_url(server, "/ws"), lambda ws: asyncio.to_thread(server.stop))
    )
    assert (seen.code, seen.frame_received) == (1001, True)


def test_a_cut_connection_is_reported_as_1006_with_no_close_frame(feed_server):
    async def scenario():
        async with ByteMeter(feed_server.host, feed_server.port) as meter:
            url = f"ws://{meter.host}:{meter.port}/ws"
            seen = await closing.watch_close(url, lambda ws: meter.cut())
            return seen, meter.counts.down

    seen, down = asyncio.run(scenario())
    assert seen == closing.CloseSeen(1006, "", False)
    assert down > 0  # the handshake went through the meter


def test_a_message_over_the_limit_is_closed_with_1009():
    with serve_echo(max_message=1024) as server:
        seen = asyncio.run(closing.watch_close(server.url, lambda ws: ws.send(b"x" * 2048)))
    assert (seen.code, seen.frame_received) == (1009, True)


def test_a_guarded_handler_that_raises_closes_with_1011_and_keeps_the_error():
    app = closing.make_failing_app()
    with serve(app, name="test-closing-1011") as server:
        seen = asyncio.run(closing.watch_close(ws_url(server, "/buggy"), lambda ws: ws.send("x")))
    assert seen == closing.CloseSeen(1011, "internal error", True)
    assert [type(e) for e in app[closing.ERRORS]] == [KeyError]


@pytest.mark.parametrize("code", [1005, 1006])
def test_a_close_frame_claiming_a_code_only_a_client_reports_is_refused_with_1002(code):
    with (
        serve_echo() as server,
        contextlib.closing(frames.handshake("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(encode_frame(CLOSE, struct.pack("!H", code), mask=os.urandom(4)))
        frame, _ = decode_frame(frames.read_frame(sock))
    assert frame.opcode == CLOSE
    assert struct.unpack("!H", frame.payload[:2]) == (1002,), frame.payload


def test_a_frozen_path_is_noticed_only_with_keepalive_pings(feed_server):
    with_pings = asyncio.run(
        closing.notice_dead_path(
            feed_server.host,
            feed_server.port,
            ping_interval=0.2,
            ping_timeout=0.2,
            close_timeout=0.2,
            give_up=5,
        )
    )
    without = asyncio.run(
        closing.notice_dead_path(
            feed_server.host,
            feed_server.port,
            ping_interval=None,
            ping_timeout=None,
            give_up=0.5,
        )
    )
    assert with_pings.looked_open and with_pings.noticed_after is not None
    assert with_pings.code == 1006
    assert without.looked_open and without.noticed_after is None and without.code is None
