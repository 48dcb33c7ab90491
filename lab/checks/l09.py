"""Checks for exercise 09: an nginx location block that WebSockets and SSE both get through.

The check starts two backends (``servers.cluster``; they send a heartbeat — an SSE comment, a
WebSocket ping — every ``HEARTBEAT`` seconds), puts a real nginx with the learner's block in
front of them, and connects through it: a WebSocket handshake and messages both ways, an SSE
stream whose events must arrive as they are published, and a WebSocket and a stream kept quiet
for a while. The backends' ``X-Accel-Buffering: no`` is ignored (``proxy_ignore_headers``), as
a proxy that does not know that header would, so the block itself must not buffer. Each failure
names the directive that is missing or wrong.
"""

from __future__ import annotations

import re

from lab import balancing
from lab.checks.core import call, expect, fail, passed
from lab.system import find_tool, in_ci
from lab.timing import scaled

EXERCISE = "09"
HEARTBEAT = 0.5
"""Seconds between the check's backends' heartbeats."""
PRODUCTION_HEARTBEAT = 15.0
"""The feed's default heartbeat (``servers.feed.make_app``): what a real deploy sends."""
QUIET = 2.0
"""Seconds the check keeps a WebSocket and a stream quiet."""

DIRECTIVES = {
    "proxy_pass": (r"proxy_pass\s+http://backend\b", "proxy_pass http://backend;"),
    "version": (r"proxy_http_version\s+1\.1\s*;", "proxy_http_version 1.1;"),
    "upgrade": (
        r"proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;",
        "proxy_set_header Upgrade $http_upgrade;",
    ),
    "connection": (
        r"proxy_set_header\s+Connection\s+(\$connection_upgrade|\"?'?upgrade\"?'?)\s*;",
        "proxy_set_header Connection $connection_upgrade;",
    ),
}


def check_09_location(location_block) -> None:
    """Exercise 09: ``location_block()`` returns an nginx ``location`` block (a string) through
    which WebSockets and SSE both work."""
    block = call(EXERCISE, location_block)
    expect(
        isinstance(block, str) and re.search(r"\blocation\b", block or "") is not None,
        EXERCISE,
        f"location_block() returned {type(block).__name__} {str(block)[:60]!r}, not the text of "
        "an nginx location block.",
        'return a string such as """location / { proxy_pass http://backend; ... }""".',
    )
    read_timeout = _read_timeout(block)
    if read_timeout is not None and read_timeout < 3 * PRODUCTION_HEARTBEAT:
        raise fail(
            EXERCISE,
            f"your block sets proxy_read_timeout to {read_timeout:g} s: in production the "
            f"backends send a heartbeat every {PRODUCTION_HEARTBEAT:g} s, and nginx would cut "
            "any stream or socket that missed a heartbeat or two.",
            f"wait at least three heartbeats: proxy_read_timeout {3 * PRODUCTION_HEARTBEAT:g}s; "
            "or more (nginx's default is 60s; 1h is common for streams).",
        )
    if find_tool("nginx") is None:
        message = "nginx is not installed (apt-get install nginx): the check needs the real thing."
        if in_ci():
            raise fail(EXERCISE, message)
        print(message + " Your block was only read, not run.")
        return
    _run_through_nginx(block)


def _run_through_nginx(block: str) -> None:
    from lab.nginx import Nginx, NginxConfigError
    from servers.cluster import Backend

    extra = ["--heartbeat", str(HEARTBEAT), "--ws-heartbeat", str(HEARTBEAT)]
    backends = [Backend(f"check09-b{n}", extra=extra) for n in (1, 2)]
    nginx = Nginx(
        block,
        [b.address for b in backends],
        server="proxy_ignore_headers X-Accel-Buffering;",
        name="check-09",
    )
    try:
        for backend in backends:
            backend.start()
        try:
            nginx.start()
        except NginxConfigError as error:
            raise _refused(block, error) from None
        answers = _websocket(block, nginx.url)
        delays = _stream(block, nginx.url, [b.url for b in backends])
        lifetimes = balancing.quiet_lifetimes(nginx.url, scaled(QUIET))
        cut = {kind: t for kind, t in lifetimes.items() if t is not None}
        expect(
            not cut,
            EXERCISE,
            f"a quiet {' and a quiet '.join(cut)} were cut after "
            f"{', '.join(f'{t:.1f} s' for t in cut.values())}, although the backends sent a "
            f"heartbeat every {HEARTBEAT:g} s.",
            "proxy_read_timeout (and proxy_send_timeout) must be longer than the time between "
            "heartbeats; leave them at nginx's default 60s or set more.",
        )
    finally:
        nginx.stop()
        for backend in backends:
            backend.stop()
    passed(
        EXERCISE,
        f"the WebSocket upgraded and {len(answers)} messages came back from one backend "
        f"({answers[0]}); 3 SSE events arrived as published (slowest after "
        f"{max(delays) * 1000:.0f} ms); a quiet WebSocket and stream outlived {QUIET:g} s.",
    )


def _refused(block: str, error) -> Exception:
    lines = block.strip().splitlines()
    where = ""
    if error.location_line is not None:
        quoted = lines[error.location_line - 1].strip()
        where = f"\nthat is line {error.location_line} of your block: {quoted}"
    said = re.sub(r"^(nginx: )?\S+ \S+ (\[\w+\]) \d+#\d+: ", r"\2 ", error.message, flags=re.M)
    return fail(
        EXERCISE,
        f"nginx refused the config with your block in it. nginx said:\n{said}{where}",
        "every directive ends with `;`, blocks are in { }, and directive names are spelled as "
        "in nginx's docs (proxy_pass, proxy_http_version, proxy_set_header, proxy_buffering).",
    )


def _missing(block: str) -> list[str]:
    return [text for pattern, text in DIRECTIVES.values() if not re.search(pattern, block)]


def _websocket(block: str, url: str) -> list[str]:
    handshake = balancing.try_handshake(url)
    if not handshake.upgraded:
        missing = [d for d in _missing(block) if not d.startswith("proxy_pass")]
        if handshake.status == 404 and handshake.backend is None:
            hint = "nginx found no location for /ws/whoami: use `location / { ... }`."
        elif (
            handshake.status in (502, 504) or re.search(DIRECTIVES["proxy_pass"][0], block) is None
        ):
            hint = "send the requests on to the upstream group: proxy_pass http://backend;"
        elif missing:
            hint = (
                f"your block is missing {' and '.join(missing)} — Upgrade and Connection are "
                "hop-by-hop headers, which nginx does not pass on unless told to, and only an "
                "HTTP/1.1 request can ask to upgrade."
            )
        else:
            hint = "pass the client's Upgrade header on, and Connection: upgrade with it."
        said = f" ({handshake.said[:160]})" if handshake.said else ""
        raise fail(
            EXERCISE,
            f"the WebSocket handshake through nginx got {handshake.status}{said}, not 101 "
            "Switching Protocols.",
            hint,
        )
    answers = balancing.answers_over_one_socket(url, 50)
    expect(
        len(set(answers)) == 1,
        EXERCISE,
        f"50 messages over one WebSocket were answered by {sorted(set(answers))}.",
    )
    return answers


def _stream(block: str, url: str, publish_urls: list[str]) -> list[float]:
    delays = balancing.sse_arrivals(url, publish_urls, 3, 0.3, wait=scaled(3))
    if len(delays) == 3 and max(delays) < scaled(1.0):
        return delays
    if re.search(r"\bgzip\s+on\s*;", block):
        hint = (
            "gzip holds events back until it has enough to compress: leave gzip off for this "
            "location (or leave text/event-stream out of gzip_types)."
        )
    elif re.search(DIRECTIVES["version"][0], block) is None:
        hint = (
            "without proxy_http_version 1.1; nginx speaks HTTP/1.0 to the backend, which cannot "
            "send its answer in chunks, and nginx holds the stream: add proxy_http_version 1.1; "
            "and proxy_buffering off; to every location that serves streams."
        )
    else:
        hint = (
            "nginx buffered the stream: add proxy_buffering off; (and proxy_http_version 1.1;) "
            "— the backend's X-Accel-Buffering: no cannot be relied on, every proxy on the path "
            "must pass events on at once."
        )
    arrived = ", ".join(f"{d * 1000:.0f} ms" for d in delays) or "none"
    raise fail(
        EXERCISE,
        f"3 posts were published 0.3 s apart while an SSE stream was open through nginx; "
        f"{len(delays)} arrived within {scaled(3):g} s (delays: {arrived}).",
        hint,
    )


def _read_timeout(block: str) -> float | None:
    """``proxy_read_timeout`` of the block in seconds (nginx's time syntax), or ``None``."""
    found = re.search(r"proxy_read_timeout\s+([0-9a-z]+)\s*;", block)
    if found is None:
        return None
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|)", found.group(1))
    return sum(int(n) * units[u] for n, u in parts)
