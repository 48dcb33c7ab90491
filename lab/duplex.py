"""Both directions at once on one WebSocket, recorded on a timeline (introduced in lesson 07).

``run_duplex`` opens one connection to the feed's ``/ws``. On it, one task sends
``{"text": "up N"}`` every ``send_every`` seconds while another reads every message the server
pushes down; meanwhile a thread publishes posts straight into the feed at its own pace, as
another user would. Every send and every arrival is timed with ``time.perf_counter``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from servers.feed import Feed


@dataclass
class Timeline:
    """What one duplex run saw; times in seconds since the run started."""

    sent: list[tuple[float, str]] = field(default_factory=list)
    """``(time, text)`` of each message the client sent up."""
    received: list[tuple[float, dict]] = field(default_factory=list)
    """``(time, post)`` of each post the server pushed down."""
    published: list[str] = field(default_factory=list)
    """Texts the other publisher put into the feed."""

    @property
    def sending_window(self) -> tuple[float, float]:
        """From the first send to the last."""
        return self.sent[0][0], self.sent[-1][0]

    def received_while_sending(self, *, own: bool | None = None) -> list[tuple[float, dict]]:
        """Arrivals strictly inside the sending window; ``own`` picks the client's own posts
        (True), the other publisher's (False) or both (None)."""
        first, last = self.sending_window
        mine = {text for _, text in self.sent}
        return [
            (t, post)
            for t, post in self.received
            if first < t < last and (own is None or (post["text"] in mine) == own)
        ]


async def run_duplex(
    url: str,
    feed: Feed,
    *,
    sends: int = 20,
    send_every: float = 0.05,
    publishes: int = 14,
    publish_every: float = 0.07,
    settle: float = 5.0,
) -> Timeline:
    """Send ``sends`` messages up and receive posts down on one WebSocket at ``url``.

    Returns once every post (the client's own and the other publisher's) came back down, or
    ``settle`` seconds after the last send, whichever is first.
    """
    timeline = Timeline()
    expected = sends + publishes
    async with connect(url, compression=None) as ws:
        started = time.perf_counter()

        async def send_up() -> None:
            for n in range(sends):
                text = f"up {n + 1}"
                await ws.send(json.dumps({"text": text}))
                timeline.sent.append((time.perf_counter() - started, text))
                await asyncio.sleep(send_every)

        async def read_down() -> None:
            async for message in ws:
                timeline.received.append((time.perf_counter() - started, json.loads(message)))
                if len(timeline.received) == expected:
                    return

        def publish_down() -> None:
            for n in range(publishes):
                time.sleep(publish_every)
                timeline.published.append(feed.publish(f"down {n + 1}")["text"])

        publisher = threading.Thread(target=publish_down, name="other-publisher")
        reading = asyncio.ensure_future(read_down())
        publisher.start()
        try:
            await send_up()
            await asyncio.wait_for(asyncio.shield(reading), settle)
        except TimeoutError:
            pass  # the caller sees what is missing
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await asyncio.to_thread(publisher.join)
    return timeline
