"""lab.wirecost: bytes on the wire per post, and for binary payloads."""

from __future__ import annotations

import asyncio

import pytest

from lab import wirecost
from lab.echo import serve_ws_echo
from servers import serve


@pytest.mark.parametrize("transport", wirecost.TRANSPORTS)
def test_each_transport_delivers_every_post_and_pays_at_least_its_payload(
    feed_server, feed, transport
):
    cost = asyncio.run(
        wirecost.cost_per_post(feed, feed_server.host, feed_server.port, transport, posts=5)
    )
    assert cost.posts == 5 and cost.payload > 5 * 40  # each post's JSON is ~55 bytes
    assert cost.down >= cost.payload and cost.overhead_per_post > 0


def test_a_websocket_post_costs_two_bytes_of_framing_and_a_poll_hundreds(feed_server, feed):
    def cost(transport):
        return asyncio.run(
            wirecost.cost_per_post(feed, feed_server.host, feed_server.port, transport, posts=5)
        )

    ws, polling = cost("WebSocket"), cost("short polling")
    assert ws.up == 0 and ws.overhead_per_post == 2  # one 2-byte header per server frame
    assert ws.setup > 0
    assert polling.overhead_per_post > 100 * ws.overhead_per_post


@pytest.mark.parametrize("size", [1, 1000, 70_000])
def test_binary_costs_its_size_plus_a_header_over_websocket_and_a_third_more_over_sse(size):
    with serve(wirecost.make_blob_app(), name="test-blob") as blob, serve_ws_echo() as echo:
        sse = asyncio.run(wirecost.sse_blob_bytes(blob.host, blob.port, size))
        ws = asyncio.run(wirecost.ws_blob_bytes(echo.host, echo.port, size))
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert ws == size + header
    assert sse >= 4 * ((size + 2) // 3)  # base64 alone
