"""Independent peers for the notification service's tests (lesson 14): httpx, httpx-sse, and
the service as its own process (``service``)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import httpx
from httpx_sse import connect_sse

from servers.runtime import free_port
from servers.timing import scaled, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def login(url: str, user: str, **body: str) -> str:
    """A token for ``user`` from ``POST /login``."""
    answer = httpx.post(f"{url}/login", json={"user": user, **body}, timeout=scaled(10))
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def post(url: str, channel: str, text: str, token: str) -> dict:
    """``POST /channels/{channel}/posts``: the post, as the service numbered it."""
    answer = httpx.post(
        f"{url}/channels/{channel}/posts",
        json={"text": text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=scaled(10),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def read(
    url: str, channel: str, count: int, *, last_id: str = "0", token: str | None = None
) -> list[tuple[str, str, dict]]:
    """The first ``count`` events of the channel's stream, resumed after ``last_id``, as
    ``(event type, id, data)``; the stream is then closed (the client goes away)."""
    headers = {"Last-Event-ID": last_id}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    got = []
    with (
        httpx.Client(timeout=scaled(10)) as client,
        connect_sse(client, "GET", f"{url}/channels/{channel}/events", headers=headers) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for event in source.iter_sse():
            if event.data == "":  # httpx-sse yields the bare "retry:" block; the spec does not
                continue
            got.append((event.event, event.id, json.loads(event.data)))
            if len(got) == count:
                break
    return got


def texts(events: list[tuple[str, str, dict]]) -> list[tuple[int, str]]:
    """``(id, text)`` of each post in ``events`` (the other events left out)."""
    return [(int(i), data["text"]) for kind, i, data in events if kind == "message"]


@contextlib.contextmanager
def service(*options: str, secret: str = ""):
    """The command on a free port, once ``/health`` answers: ``(url, process)``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "servers.notify", "--port", str(port), *options],
        cwd=ROOT,
        env={**os.environ, "NOTIFY_SECRET": secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, process.communicate()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{url}/health").status_code == 200
        return False

    try:
        wait_until(healthy, timeout=20, what="the service to answer /health")
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@contextlib.contextmanager
def two_on_one_redis():
    """Two service processes on one real Redis, sharing a secret: ``(first url, second url)``."""
    from support import needs

    from servers.redis_server import RedisServer

    needs("redis-server")
    with (
        RedisServer() as redis,
        service("--redis", redis.url, secret="shared") as (first, _),
        service("--redis", redis.url, secret="shared") as (second, _),
    ):
        yield first, second
