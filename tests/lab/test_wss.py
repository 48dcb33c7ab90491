"""lab.wss: the feed's WebSocket through TLS with a throwaway certificate."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest
from websockets.asyncio.client import connect

from lab.wss import TLSFront
from servers.runtime import pending_tasks


def test_a_post_goes_through_wss_and_an_untrusted_certificate_is_refused(feed_server):
    before = set(pending_tasks())
    front = TLSFront(feed_server.port, name="test-wss")

    async def exchange(context: ssl.SSLContext | None = None) -> dict:
        async with connect(front.url("/ws"), ssl=context or front.client_context()) as ws:
            await ws.send(json.dumps({"text": "over wss"}))
            return json.loads(await ws.recv())

    try:
        assert asyncio.run(exchange())["text"] == "over wss"
        with pytest.raises(ssl.SSLCertVerificationError):
            asyncio.run(exchange(ssl.create_default_context()))  # the system's CAs only
    finally:
        front.stop()
        front.stop()
    assert set(pending_tasks()) <= before  # no relay left behind
