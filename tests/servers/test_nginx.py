"""servers.nginx: a real nginx from a generated config; the buffering facts lesson 03 relies on,
and the lifecycle lesson 09 relies on (named, tied to the kernel, dies even after SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import httpx
import psutil
import pytest
from aiohttp import web
from support import needs, wait_until

from servers import serve
from servers.clock import SSE_HEADERS, make_clock_app
from servers.nginx import Nginx, NginxConfigError, nginx_seconds, read_timeout
from servers.sse import EventParser
from servers.timing import scaled

PLAIN = "location / { proxy_pass http://backend; }"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def events_per_read(location: str, headers: dict) -> list[int]:
    """How many whole SSE events each read of a 10-event stream through nginx completed (reads
    that completed none left out). Chunks may merge under load; events are parsed, not counted
    per chunk."""
    parser, counts = EventParser(), []
    with (
        serve(make_clock_app(0.1, 10, headers)) as upstream,
        Nginx(location, [f"{upstream.host}:{upstream.port}"]) as nginx,
        httpx.stream("GET", nginx.url + "/time", timeout=10) as response,
    ):
        for chunk in response.iter_raw():
            if events := parser.feed(chunk):
                counts.append(len(events))
    return counts


def test_with_default_settings_nginx_holds_every_event_until_the_stream_ends():
    needs("nginx")
    assert events_per_read(PLAIN, SSE_HEADERS) == [10]


def test_x_accel_buffering_no_makes_nginx_pass_events_on_before_the_stream_ends():
    needs("nginx")
    counts = events_per_read(PLAIN, {**SSE_HEADERS, "X-Accel-Buffering": "no"})
    assert sum(counts) == 10 and counts[0] < 10  # the first arrived before the last was written


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90), ("500ms", 0.5), ("1m30s", 90), ("'1h 30m'", 5400), ("2d", 172800),
     ("1w", 604800), ("1M", 2592000), ("1y", 31536000), ("1h1ms", 3600.001)],
)  # fmt: skip
def test_nginx_time_values_are_read_in_every_unit_and_combination(value, seconds):
    assert nginx_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["30s1m", "1m1m", "1.5s", "1x", "s", ""])
def test_a_time_nginx_would_refuse_is_refused(value):
    with pytest.raises(ValueError, match="is not an nginx time"):
        nginx_seconds(value)


def test_the_shortest_valid_proxy_read_timeout_of_a_config_is_read():
    config = "proxy_read_timeout 1m30s; location / { proxy_read_timeout 2d; }"
    assert read_timeout(config) == 90
    assert read_timeout("location / { proxy_pass http://backend; }") is None
    assert read_timeout("proxy_read_timeout soon; proxy_read_timeout 1h;") == 3600


def test_nginx_and_its_workers_are_gone_after_stop():
    needs("nginx")
    nginx = Nginx(PLAIN, ["127.0.0.1:9"]).start()
    wait_until(lambda: len(nginx.pids()) >= 2, what="nginx's worker")  # forked after listening
    pids = nginx.pids()
    nginx.stop()
    nginx.stop()
    assert not any(alive(pid) for pid in pids)


def test_starting_an_nginx_of_the_same_name_stops_the_old_one():
    needs("nginx")
    first = Nginx(PLAIN, ["127.0.0.1:9"], name="test-named").start()
    pids = first.pids()
    second = Nginx(PLAIN, ["127.0.0.1:9"], name="test-named").start()
    try:
        assert not any(alive(pid) for pid in pids)
        assert second.pids()
    finally:
        second.stop()


def test_upstream_and_http_lines_go_where_nginx_wants_them():
    needs("nginx")
    with (
        serve(make_clock_app(0.1, 1, SSE_HEADERS)) as upstream,
        Nginx(
            "location / { proxy_pass http://backend; add_header X-Upgrade $connection_upgrade; }",
            [f"{upstream.host}:{upstream.port}"],
            balance="ip_hash;",
            http="proxy_buffering off;",
        ) as nginx,
    ):
        assert "ip_hash;" in nginx.config.split("upstream backend")[1].split("}")[0]
        response = httpx.get(nginx.url + "/time", timeout=10)
        assert response.headers["X-Upgrade"] == "close"  # the map: no Upgrade asked for


def test_a_response_too_big_for_nginx_s_memory_and_the_socket_buffers_arrives_whole():
    """nginx keeps what the client has not read yet in temp files in its own folder: the
    response must be bigger than what the loopback's socket buffers hold (about 4 MB here)."""
    needs("nginx")
    body, written = os.urandom(16 << 20), threading.Event()

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(body)
        await response.prepare(request)
        try:
            await response.write(body)
            await response.write_eof()
        finally:
            written.set()
        return response

    app = web.Application()
    app.router.add_get("/big", big)
    with (
        serve(app) as upstream,
        Nginx(PLAIN, [f"{upstream.host}:{upstream.port}"]) as nginx,
        httpx.stream("GET", nginx.url + "/big", timeout=scaled(10)) as response,
    ):
        wait_until(written.is_set, scaled(20), "the upstream wrote its whole response")
        try:
            received = b"".join(response.iter_bytes())
        except httpx.RemoteProtocolError as error:
            pytest.fail(f"{error}; nginx's error log:\n{nginx.error_log()}")
        assert received == body
        assert "buffered to a temporary file" in nginx.error_log()  # it did spill to disk


def test_nginx_dies_with_the_process_that_started_it_even_by_sigkill():
    needs("nginx")
    script = textwrap.dedent(
        """
        import httpx, json, time
        from lab.front import PROXY
        from servers.nginx import Nginx
        from servers.cluster import start_backends
        backends = start_backends(2, prefix="test-orphan")
        nginx = Nginx(PROXY, [b.address for b in backends]).start()
        while len(nginx.pids()) < 2:
            time.sleep(0.02)
        pids = nginx.pids() + [httpx.get(b.url + "/backend").json()["pid"] for b in backends]
        print(json.dumps({"pids": pids, "folder": nginx._folder.name}), flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(child.stdout.readline())
        pids = started["pids"]
        assert len(pids) >= 4 and all(alive(pid) for pid in pids)
    finally:
        child.send_signal(signal.SIGKILL)  # as when a kernel is killed: no atexit runs
        child.wait()
    wait_until(lambda: not any(alive(pid) for pid in pids), what="nginx and the backends to die")
    wait_until(lambda: not orphans("test-orphan"), what="their watchdogs to end")
    wait_until(lambda: not os.path.exists(started["folder"]), what="nginx's folder to go")


def orphans(marker: str) -> list[list[str]]:
    """Command lines of live processes that mention ``marker``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        line = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in line):
            found.append(line)
    return found


def test_a_broken_config_is_refused_with_nginx_s_own_words():
    needs("nginx")

    with pytest.raises(NginxConfigError, match="nginx refused the config") as refusal:
        Nginx("location / {\n    proxy_pass;\n}", ["127.0.0.1:9"]).start()
    assert "invalid number of arguments" in refusal.value.message
    assert refusal.value.location_line == 2
