"""lab.nginx: a real nginx from a generated config; the buffering facts lesson 03 relies on."""

from __future__ import annotations

import httpx
import psutil
from support import needs, wait_until

from lab.nginx import Nginx
from servers import serve
from servers.clock import SSE_HEADERS, make_clock_app

PLAIN = "location / { proxy_pass http://backend; }"


def chunks_through(location: str, headers: dict) -> list[bytes]:
    with (
        serve(make_clock_app(0.1, 5, headers)) as upstream,
        Nginx(location, [f"{upstream.host}:{upstream.port}"]) as nginx,
        httpx.stream("GET", nginx.url + "/time", timeout=10) as response,
    ):
        return list(response.iter_raw())


def test_with_default_settings_nginx_holds_every_event_until_the_stream_ends():
    needs("nginx")
    chunks = chunks_through(PLAIN, SSE_HEADERS)
    assert len(chunks) == 1 and chunks[0].count(b"data:") == 5


def test_x_accel_buffering_no_makes_nginx_pass_each_event_on_at_once():
    needs("nginx")
    chunks = chunks_through(PLAIN, {**SSE_HEADERS, "X-Accel-Buffering": "no"})
    assert [chunk.count(b"data:") for chunk in chunks] == [1, 1, 1, 1, 1]


def test_nginx_and_its_workers_are_gone_after_stop():
    needs("nginx")
    nginx = Nginx(PLAIN, ["127.0.0.1:9"]).start()
    pid = nginx._process.pid
    master = psutil.Process(pid)
    wait_until(master.children, what="nginx's worker")  # forked after the socket listens
    children = master.children()
    nginx.stop()
    nginx.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not any(psutil.pid_exists(c.pid) for c in children)


def test_a_broken_config_is_refused_with_nginx_s_own_words():
    needs("nginx")
    import pytest

    with pytest.raises(RuntimeError, match="nginx refused the config"):
        Nginx("location / { proxy_pass; }", ["127.0.0.1:9"]).start()
