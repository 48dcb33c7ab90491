"""servers.jupyter_proxy: jupyter-server-proxy streams a response only to a request that
accepts text/event-stream, buffers the rest, and lets no one in without Jupyter's token."""

from __future__ import annotations

import httpx
import pytest

from servers import clock, serve
from servers.jupyter_proxy import JupyterProxy
from servers.timing import scaled


@pytest.fixture(scope="module")
def jupyter():
    with JupyterProxy() as server:
        yield server


def first_chunk(url: str, headers: dict) -> bytes:
    with httpx.stream("GET", url, headers=headers, timeout=scaled(10)) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return next(response.iter_raw())


@pytest.mark.parametrize(
    ("accept", "events_in_first_chunk"),
    [("text/event-stream", 1), ("*/*", 3)],
    ids=["an EventSource's Accept is streamed", "any other Accept is held until the end"],
)
def test_the_proxy_streams_only_event_streams(jupyter, accept, events_in_first_chunk):
    with serve(clock.make_clock_app(interval=scaled(0.3), count=3)) as clock_server:
        chunk = first_chunk(
            jupyter.proxied(clock_server.port, "/time"), {**jupyter.headers, "Accept": accept}
        )
    assert chunk.count(b"data: ") == events_in_first_chunk


def test_the_proxy_asks_for_jupyters_token(jupyter):
    with serve(clock.make_clock_app(interval=0, count=1)) as clock_server:
        answer = httpx.get(jupyter.proxied(clock_server.port, "/time"), timeout=scaled(10))
    assert answer.status_code in (302, 403)
