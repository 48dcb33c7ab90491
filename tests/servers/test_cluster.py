"""servers.cluster and servers.backend: backends in their own processes, naming themselves."""

from __future__ import annotations

import json

import httpx
import psutil
from websockets.sync.client import connect

from servers.backend import make_backend_app
from servers.cluster import Backend, running_backends, start_backends


def test_backends_answer_with_their_name_and_are_gone_after_stop():
    backends = start_backends(2, prefix="test-b")
    try:
        answers = [httpx.get(b.url + "/backend") for b in backends]
        assert [a.json()["backend"] for a in answers] == ["test-b1", "test-b2"]
        assert [a.headers["X-Backend"] for a in answers] == ["test-b1", "test-b2"]
        pids = [a.json()["pid"] for a in answers]
        assert all(psutil.pid_exists(pid) for pid in pids)
    finally:
        for backend in backends:
            backend.stop()
    assert not any(b in running_backends() for b in backends)
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_a_restarted_backend_is_a_new_process_on_the_same_port():
    with Backend("test-restart") as backend:
        before = httpx.get(backend.url + "/backend").json()["pid"]
        backend.restart()
        after = httpx.get(backend.url + "/backend").json()["pid"]
    assert before != after


def test_whoami_answers_each_message_with_the_backends_name_and_is_counted():
    with (
        Backend("test-whoami") as backend,
        connect(backend.url.replace("http", "ws") + "/ws/whoami") as ws,
    ):
        ws.send("hello")
        assert json.loads(ws.recv()) == {"backend": "test-whoami", "echo": "hello"}
        assert httpx.get(backend.url + "/backend").json()["sockets"] == 1


def test_a_backend_that_cannot_start_says_why(tmp_path):
    import socket

    import pytest

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start"):
            Backend("test-taken", port).start()


def test_the_backend_app_names_itself_in_process_too():
    from aiohttp.test_utils import TestClient, TestServer

    async def scenario():
        async with TestClient(TestServer(make_backend_app("inline"))) as client:
            response = await client.get("/posts")
            return response.headers["X-Backend"]

    import asyncio

    assert asyncio.run(scenario()) == "inline"
