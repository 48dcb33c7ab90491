"""What exercise 09's check reads from the learner's block rather than runs (lesson 09).

``lab.checks.l09`` runs the block through a real nginx; the rules here are the ones nginx and
aiohttp forgive on this machine but other parts of a real path do not (the reasons are in
``lab.checks.l09``'s docstring). Each rule is applied to the location nginx would choose for
the path it is about (``serving``): a ``proxy_buffering off;`` in a ``location /ws/`` does not
unbuffer the ``location /`` that serves ``/events``.
"""

from __future__ import annotations

import re

from lab.checks.core import fail
from servers.events import HEARTBEAT
from servers.nginx import read_timeout

EXERCISE = "09"
PRODUCTION_HEARTBEAT = HEARTBEAT
"""The feed's default heartbeat (``servers.feed.make_app``): what a real deploy sends."""

DIRECTIVES = {
    "proxy_pass": (r"proxy_pass\s+http://backend\b", "proxy_pass http://backend;"),
    "version": (r"proxy_http_version\s+1\.1\s*;", "proxy_http_version 1.1;"),
    "upgrade": (
        r"proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;",
        "proxy_set_header Upgrade $http_upgrade;",
    ),
    "connection": (
        r"proxy_set_header\s+Connection\s+(\$connection_upgrade|[\"']?(?i:upgrade)[\"']?)\s*;",
        "proxy_set_header Connection $connection_upgrade;",
    ),
    "buffering": (r"proxy_buffering\s+off\s*;", "proxy_buffering off;"),
}
HARD_CODED_UPGRADE = r"proxy_set_header\s+Connection\s+[\"']?(?i:upgrade)[\"']?\s*;"
HARD_CODED_PROTOCOL = r"proxy_set_header\s+Upgrade\s+[\"']?(?i:websocket)[\"']?\s*;"
_LOCATION = re.compile(r"\blocation\s+(=|\^~|~\*?)?\s*([^\s{]+)\s*\{")


def without_comments(block: str) -> str:
    """The block with nginx comments (``#`` to the end of a line) left out."""
    return re.sub(r"#[^\n]*", "", block)


def serving(block: str, path: str) -> tuple[str, str]:
    """``(name, text)``: the location nginx would choose for ``path`` (``"location /"``) and
    its directives with those outside every location (which every location inherits). With a
    regex location, or none that matches, the whole block and ``"your block"``."""
    bodies, outside, end = [], [], 0
    for found in _LOCATION.finditer(block):
        if found.start() < end:
            continue  # a nested location: part of the body already taken
        depth, at = 1, found.end()
        while depth and at < len(block):
            depth += {"{": 1, "}": -1}.get(block[at], 0)
            at += 1
        outside.append(block[end : found.start()])
        bodies.append((found.group(1), found.group(2), block[found.end() : at]))
        end = at
    outside.append(block[end:])
    if any(modifier and modifier.startswith("~") for modifier, _, _ in bodies):
        return "your block", block
    exact = [b for b in bodies if b[0] == "=" and b[1] == path]
    prefixes = [b for b in bodies if b[0] != "=" and path.startswith(b[1])]
    if not exact and not prefixes:
        return "your block", block
    modifier, prefix, body = exact[0] if exact else max(prefixes, key=lambda b: len(b[1]))
    name = f"location {modifier} {prefix}" if modifier else f"location {prefix}"
    return name, "".join(outside) + body


def timeout_rule(block: str) -> None:
    """``CheckFailed`` when ``proxy_read_timeout`` is shorter than three heartbeats."""
    timeout = read_timeout(block)
    if timeout is None or timeout >= 3 * PRODUCTION_HEARTBEAT:
        return
    if timeout < PRODUCTION_HEARTBEAT:
        problem = (
            "that is shorter than the time between heartbeats (in production the backends send "
            f"one every {PRODUCTION_HEARTBEAT:g} s): nginx would cut every quiet stream and socket "
            "before its first heartbeat arrived."
        )
    else:
        problem = (
            f"that is only {timeout / PRODUCTION_HEARTBEAT:.1f} heartbeats (the backends "
            f"send one every {PRODUCTION_HEARTBEAT:g} s in production): one heartbeat late or "
            "lost — a busy backend, a slow network — and nginx cuts a healthy connection."
        )
    raise fail(
        EXERCISE,
        f"your block sets proxy_read_timeout to {timeout:g} s: {problem}",
        f"wait at least three heartbeats: proxy_read_timeout {3 * PRODUCTION_HEARTBEAT:g}s; "
        "or more (nginx's default is 60s; 1h is common for streams). proxy_send_timeout can "
        "stay as it is: it only times a write nginx cannot finish (a backend that stops "
        "reading), so it never cuts a quiet connection.",
    )


def gzip_rule(block: str) -> None:
    """``CheckFailed`` when the location that serves ``/events`` gzips ``text/event-stream``
    (nginx compresses only its ``gzip_types``, ``text/html`` alone by default). Read, not run:
    the check's client counts ``data:`` lines in the bytes as they come, compressed ones too."""
    name, text = serving(block, "/events")
    types = r"\bgzip_types\s[^;]*(text/event-stream|\*)"
    if re.search(r"\bgzip\s+on\s*;", text) and re.search(types, text):
        raise fail(
            EXERCISE,
            f"{name}, which serves /events, gzips the stream (gzip on; with text/event-stream in "
            "gzip_types). With proxy_buffering on, gzip holds events back (measured in lesson "
            "03; with buffering off they arrived), and compressing a stream that carries "
            "secrets beside data an attacker can influence leaks those secrets through the "
            "compressed lengths (BREACH; lesson 07 shows it).",
            "leave gzip off for this location (or leave text/event-stream out of gzip_types).",
        )


def require(directive: str, name: str, text: str, why: str) -> None:
    """``CheckFailed`` saying ``why``, with the hint to add the directive to the location
    ``name``, when its ``text`` lacks ``DIRECTIVES[directive]``."""
    pattern, written = DIRECTIVES[directive]
    if re.search(pattern, text) is None:
        raise fail(EXERCISE, why, f"add {written} to {name}.")


def static_rules(block: str) -> None:
    """``CheckFailed`` for HTTP/1.0 to the backends, buffering on the stream's location, or a
    ``Connection: upgrade`` sent with every request that location serves."""
    for path in ("/ws/whoami", "/events"):
        name, text = serving(block, path)
        require(
            "version",
            name,
            text,
            f"{name} (which serves {path}) does not set `proxy_http_version 1.1;`, so nginx "
            "speaks HTTP/1.0 to the backends (nginx's default). RFC 6455 (section 4.1) "
            "requires the WebSocket opening handshake to be an HTTP/1.1 request: the upgrade "
            "worked here only because aiohttp happens to tolerate an HTTP/1.0 one, and many "
            "servers refuse it. HTTP/1.0 also has no chunked encoding, which streams rely on "
            "behind a buffering proxy.",
        )
    name, text = serving(block, "/events")
    require(
        "buffering",
        name,
        text,
        f"{name}, which serves /events, leaves proxy_buffering on (nginx's default). The "
        "events arrived in time here only because, over HTTP/1.1 to a client that keeps up, "
        "nginx passes each chunk on as it reads it; with buffering on it reads ahead into "
        "its buffers (and to disk) for a slow client and flushes when it sees fit. An SSE "
        "route should not depend on that, nor on the backend's X-Accel-Buffering: no, which "
        "this check's nginx ignores, as a proxy that does not know the header would.",
    )
    if re.search(HARD_CODED_UPGRADE, text):
        raise fail(
            EXERCISE,
            f'{name} hard-codes `proxy_set_header Connection "upgrade";`, so nginx sends '
            "`Connection: upgrade` with every request it serves — every plain GET and POST, and "
            "the SSE stream on /events — each then claiming to ask for an upgrade it does not "
            "ask for (with no Upgrade header saying to what), where nginx would have sent "
            "`Connection: close`. The WebSocket worked and aiohttp ignores the stray claim, but "
            "lesson 09 (section 1) explains the map this check's nginx defines at the http "
            "level, `map $http_upgrade $connection_upgrade { default upgrade; '' close; }`: "
            "`upgrade` only when the client's request asked to upgrade, `close` otherwise.",
            "proxy_set_header Connection $connection_upgrade;",
        )
    if re.search(HARD_CODED_PROTOCOL, text):
        raise fail(
            EXERCISE,
            f"{name} hard-codes `proxy_set_header Upgrade websocket;`, so every request it serves "
            "— plain GETs and the SSE stream on /events too — reaches the backend with "
            "`Upgrade: websocket`, as if the client had asked to switch protocols (RFC 9110, "
            "section 7.8: Upgrade goes only with a request that lists `upgrade` in Connection).",
            "proxy_set_header Upgrade $http_upgrade; passes the client's own header on, and "
            "nginx sends no header at all when its value is empty, as it is for a plain request.",
        )
