"""``python -m servers.notify`` as its own process (lesson 14): it answers ``/health``, says
what each option does, and stops on SIGTERM with every stream closed: each SSE stream gets a
``shutdown`` event and a complete end of body, each WebSocket the close code 1001."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

import httpx
import pytest
from httpx_sse import connect_sse
from notify_support import login, post, read, service, texts, two_on_one_redis
from support import wait_until
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from servers.runtime import free_port
from servers.timing import scaled

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_help_says_what_each_option_does():
    done = subprocess.run(
        [sys.executable, "-m", "servers.notify", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0
    for option, says in [
        ("--port", "port to listen on"),
        ("--host", "address to listen on"),
        ("--redis", "share channels through the Redis at URL"),
        ("--history", "posts each channel keeps"),
        ("--token-ttl", "seconds a login's token and cookie last"),
        ("--user", "a user who may log in"),
        ("--allowed-origin", "allowed to open WebSockets"),
        ("--heartbeat", "SSE heartbeat"),
        ("--write-timeout", "let go"),
        ("--presence-ttl", "how long a dead backend's users stay listed"),
        ("NOTIFY_SECRET", "signs tokens"),
    ]:
        assert option in done.stdout and says in " ".join(done.stdout.split()), option


def test_the_command_answers_health_and_stops_on_sigterm_ending_every_stream():
    with service() as (url, process):
        assert httpx.get(f"{url}/health").json()["broker"] == "memory"
        with (
            httpx.Client(timeout=scaled(10)) as client,
            connect_sse(client, "GET", f"{url}/channels/broadcast/events") as source,
            connect(url.replace("http", "ws") + "/channels/broadcast/ws") as socket,
        ):
            stream = (event for event in source.iter_sse() if event.data)
            wait_until(lambda: httpx.get(f"{url}/health").json()["clients"] == 2)
            post(url, "broadcast", "hello", login(url, "alice"))
            assert json.loads(next(stream).data)["text"] == "hello"
            assert json.loads(socket.recv(timeout=scaled(10)))["text"] == "hello"
            process.send_signal(signal.SIGTERM)
            rest = list(stream)  # a body cut short would raise here, not end
            with pytest.raises(ConnectionClosedOK) as closed:
                socket.recv(timeout=scaled(10))
        out, err = process.communicate(timeout=scaled(10))
    assert [event.event for event in rest] == ["shutdown"]
    assert closed.value.rcvd.code == 1001
    assert process.returncode == 0, err
    assert out.splitlines()[-1] == "notification service stopped"
    for noise in ("Traceback", "Task was destroyed", "Error handling request"):
        assert noise not in err, err


def test_two_processes_on_one_redis_resume_each_others_clients():
    with two_on_one_redis() as (first, second):
        assert httpx.get(f"{first}/health").json()["broker"] == "redis"
        token = login(first, "alice")  # honoured by the second: the secret is shared
        post(first, "alice", "one", token)
        seen = read(first, "alice", 1, token=token)
        post(second, "alice", "two", token)
        rest = read(second, "alice", 1, last_id=seen[-1][1], token=token)
    assert texts(seen) + texts(rest) == [(1, "one"), (2, "two")]


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= 256, reason="the hard limit is 256 here"
)
def test_started_under_a_soft_limit_of_256_open_files_it_raises_its_own():
    """A terminal may start it with ``ulimit -Sn 256``: one file per client would cap it at
    about 250 clients; it raises its soft limit to the hard one, and says so."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "servers.notify", "--port", str(free_port())],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )
    try:
        first = process.stdout.readline()
    finally:
        process.terminate()
        process.communicate(timeout=scaled(10))
    assert "open files)" in first, first
    assert int(first.split("up to ")[1].split()[0]) > 256, first
