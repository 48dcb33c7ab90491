"""Lesson 11's slow-consumer policy in the notification service (lesson 14): a stalled stream
is let go, counted as a drop, and the service's stop leaves no task behind."""

from __future__ import annotations

import json
import socket

import httpx
from httpx_sse import connect_sse
from notify_support import login, post
from support import wait_until

from servers import runtime, serve
from servers.notify import make_app
from servers.timing import scaled


def stalled_reader(port: int, channel: str) -> socket.socket:
    """A connection that asks for the channel's stream and never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /channels/{channel}/events HTTP/1.1\r\nHost: notify\r\n\r\n".encode())
    return sock


def test_a_stalled_stream_is_let_go_and_counted_as_a_drop_while_posts_go_on():
    with serve(make_app(write_timeout=1.0), name="test-notify-slow") as server:
        health = lambda: httpx.get(f"{server.url}/health").json()  # noqa: E731
        sock = stalled_reader(server.port, "broadcast")
        try:
            wait_until(lambda: health()["clients"] == 1, what="the stalled stream to open")
            token = login(server.url, "alice")

            def let_go() -> bool:
                for _ in range(20):
                    post(server.url, "broadcast", "x" * 1000, token)
                return health()["drops"] == 1

            wait_until(let_go, timeout=30, what="the stalled stream to be let go")
            wait_until(lambda: health()["clients"] == 0, what="its handler to end")
            page = httpx.get(f"{server.url}/metrics").text
        finally:
            sock.close()
    assert "drops              1 streams let go for being slow (write timeout 1 s)" in page


def test_stopping_the_service_in_process_ends_its_streams_and_leaves_no_task():
    server = serve(make_app(), name="test-notify-stop")
    with (
        httpx.Client(timeout=scaled(10)) as client,
        connect_sse(client, "GET", f"{server.url}/channels/broadcast/events") as source,
    ):
        wait_until(lambda: httpx.get(f"{server.url}/health").json()["clients"] == 1)
        server.stop()
        rest = [event for event in source.iter_sse() if event.data]  # ends, and not cut short
    assert [event.event for event in rest] == ["shutdown"]
    assert "Last-Event-ID" in json.loads(rest[0].data)["reason"]
    assert runtime.pending_tasks() == []
