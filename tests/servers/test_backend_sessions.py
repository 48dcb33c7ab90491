"""servers.backend's lesson-09 additions: a session held by one backend, heartbeat options."""

from __future__ import annotations

import httpx

from servers.cluster import Backend, start_backends


def test_a_session_lives_only_on_the_backend_that_opened_it():
    backends = start_backends(2, prefix="test-session")
    try:
        opened = httpx.post(backends[0].url + "/session").json()
        assert opened["backend"] == "test-session1"
        here = httpx.get(f"{backends[0].url}/session/{opened['session']}")
        there = httpx.get(f"{backends[1].url}/session/{opened['session']}")
        assert here.status_code == 200 and here.json()["polls"] == 1
        assert there.status_code == 404
        assert there.json()["error"].endswith("on backend test-session2")
    finally:
        for backend in backends:
            backend.stop()


def test_heartbeat_options_reach_the_backend():
    extra = ["--heartbeat", "0.2", "--retry-ms", "250"]
    with (
        Backend("test-heartbeat", extra=extra) as backend,
        httpx.stream("GET", backend.url + "/events", timeout=5) as response,
    ):
        received = b""
        for chunk in response.iter_raw():  # the default heartbeat (15 s) would time this out
            received += chunk
            if received.count(b"\n\n") >= 3:
                break
    assert received.startswith(b"retry: 250\n\n: heartbeat\n\n: heartbeat\n\n"), received
