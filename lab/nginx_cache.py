"""A caching nginx in front of a stream: what ``Cache-Control`` changes (lesson 03 introduces it).

``served_twice(headers)`` sends the seed's clock (3 events, 0.1 s apart, then the end of the
response) with ``headers`` through an nginx that caches (``proxy_cache``, with
``proxy_cache_valid 200 1m``: nginx stores any 200 its upstream does not forbid it to store), and
reads it twice, one client after the other. Each ``Visit`` holds that client's ``data:`` values
(the clock's timestamps) and nginx's ``$upstream_cache_status`` for it (MISS: asked the
upstream; HIT: answered from the cache).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import httpx

from servers import clock, serve
from servers.nginx import Nginx
from servers.sse import EventParser

LOCATION = """location / {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_cache stream;
    proxy_cache_valid 200 1m;
    add_header X-Cache-Status $upstream_cache_status always;
}"""


@dataclass(frozen=True)
class Visit:
    data: list[str]
    """The ``data:`` of each event this client received."""
    cache: str
    """nginx's ``$upstream_cache_status`` for this request."""


def visit(url: str) -> Visit:
    """Read the whole (ending) stream at ``url``."""
    response = httpx.get(url, timeout=10)
    events = EventParser().feed(response.content)
    return Visit([event.data for event in events], response.headers.get("x-cache-status", ""))


def served_twice(headers: dict[str, str]) -> list[Visit]:
    """Two clients, one after the other, read the clock through a caching nginx."""
    with tempfile.TemporaryDirectory(prefix="course-cache-", ignore_cleanup_errors=True) as folder:
        cache = f"proxy_cache_path {folder} keys_zone=stream:1m use_temp_path=off;"
        with (
            serve(clock.make_clock_app(0.1, 3, headers)) as upstream,
            Nginx(LOCATION, [f"{upstream.host}:{upstream.port}"], http=cache) as nginx,
        ):
            return [visit(nginx.url + "/time") for _ in range(2)]
