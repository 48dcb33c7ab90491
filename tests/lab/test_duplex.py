"""lab.duplex: one WebSocket sends up and receives down at the same time."""

from __future__ import annotations

import asyncio

from lab.duplex import run_duplex


def test_every_post_comes_down_while_the_client_is_still_sending_up(feed_server, feed):
    url = feed_server.url.replace("http://", "ws://") + "/ws"
    timeline = asyncio.run(
        run_duplex(url, feed, sends=10, send_every=0.05, publishes=6, publish_every=0.06)
    )
    assert [text for _, text in timeline.sent] == [f"up {n}" for n in range(1, 11)]
    texts = sorted(post["text"] for _, post in timeline.received)
    assert texts == sorted([f"up {n}" for n in range(1, 11)] + [f"down {n}" for n in range(1, 7)])
    assert timeline.received_while_sending(own=False)  # the other publisher's posts, mid-send
    assert timeline.received_while_sending(own=True)  # and its own, echoed as posts
    times = [t for t, _ in timeline.sent + timeline.received]
    assert all(t >= 0 for t in times)
