"""Checks for exercise 09: an nginx location block that WebSockets and SSE both get through.

The check reads the block, then starts two backends (``servers.cluster``), puts a real nginx
with the learner's block in front of them, and connects through it: a WebSocket handshake and
messages both ways, and an SSE stream whose events must arrive as they are published. The
backends' ``X-Accel-Buffering: no`` is ignored (``proxy_ignore_headers``), as a proxy that does
not know that header would. Each failure names the directive that is missing or wrong.

Five rules are read from the block (``lab.checks.l09_reading``) rather than run, because nginx
and aiohttp forgive what other parts of a real path do not:

- ``proxy_http_version 1.1``: RFC 6455 makes the opening handshake an HTTP/1.1 request, and
  nginx speaks HTTP/1.0 to upstreams by default; aiohttp happens to accept an upgrade over
  HTTP/1.0, many servers do not.
- ``proxy_buffering off``: with HTTP/1.1 and a fast client nginx happens to pass each chunk on
  as it reads it, but a buffering nginx reads ahead for a slow client and flushes when it sees
  fit; a stream should not depend on that, nor on the upstream's ``X-Accel-Buffering: no``.
- ``proxy_read_timeout`` of at least three production heartbeats (45 s). There is no live
  "quiet connection" test: any timeout this rule allows outlives every wait a check can afford,
  and nginx's other timeouts (``proxy_send_timeout``, ``send_timeout``) only run while a write
  is blocked — measured: a quiet WebSocket and stream outlive ``proxy_send_timeout 1s`` — so
  such a test could not fail.
- no gzip for ``text/event-stream``: it held events back only while buffering was on (lesson
  03), but a compressed stream leaks secrets through its lengths (BREACH, lesson 07), which no
  run here can show.
- ``Connection $connection_upgrade``, not a hard-coded ``"upgrade"`` in the location that serves
  plain requests and streams too: every one of them would claim an upgrade (aiohttp ignores the
  claim; lesson 09 explains the map).
"""

from __future__ import annotations

import re

import httpx

from lab import balancing
from lab.checks.core import call, expect, fail, passed
from lab.checks.l09_reading import (
    DIRECTIVES,
    EXERCISE,
    gzip_rule,
    serving,
    static_rules,
    timeout_rule,
    without_comments,
)
from servers.system import MissingPart, real_part
from servers.timing import scaled


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
    block = without_comments(block)
    timeout_rule(block)
    gzip_rule(block)
    try:
        nginx = real_part("nginx")
    except MissingPart as missing:
        raise fail(EXERCISE, f"{missing}: the check needs the real thing.") from None
    if not nginx.real:
        static_rules(block)
        print(f"No nginx here ({nginx.note}): the check needs the real thing. Your block was "
              "only read, not run.")  # fmt: skip
        return
    answers, delays = _run_through_nginx(block)
    static_rules(block)
    passed(
        EXERCISE,
        f"the WebSocket upgraded and {len(answers)} messages came back from one backend "
        f"({answers[0]}); 3 SSE events arrived as published (slowest after "
        f"{max(delays) * 1000:.0f} ms); the block speaks HTTP/1.1, does not buffer, asks to "
        "upgrade only for a client that does, and waits at least three heartbeats before "
        "calling a connection idle.",
    )


def _run_through_nginx(block: str) -> tuple[list[str], list[float]]:
    from servers.cluster import Backend
    from servers.nginx import Nginx, NginxConfigError

    backends = [Backend(f"check09-b{n}") for n in (1, 2)]
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
    finally:
        nginx.stop()
        for backend in backends:
            backend.stop()
    return answers, delays


def _refused(block: str, error) -> Exception:
    lines = block.strip().splitlines()
    where = ""
    if error.location_line is not None:
        reported = error.location_line
        named = re.search(r'in "([\w.]+)" directive', error.message)
        starts = [
            n
            for n, line in enumerate(lines[:reported], start=1)
            if named and re.match(rf"\s*{re.escape(named.group(1))}\b", line)
        ]
        line = starts[-1] if starts else reported
        where = f"\nthat is line {line} of your block: {lines[line - 1].strip()}"
        if line != reported:
            where += (
                f"\n(nginx points at line {reported}: a missing `;` makes nginx read on into the "
                "next line)"
            )
        elif re.match(r'.*unexpected "}"', error.message) and line > 1:
            before = lines[line - 2].strip()
            if before and not before.endswith((";", "{", "}")):
                where += f"\nthe line before it has no `;`: {before}"
    said = re.sub(r"^(nginx: )?\S+ \S+ (\[\w+\]) \d+#\d+: ", r"\2 ", error.message, flags=re.M)
    hint = (
        "every directive ends with `;`, blocks are in { }, and directive names are spelled as "
        "in nginx's docs (proxy_pass, proxy_http_version, proxy_set_header, proxy_buffering)."
    )
    if "host not found in upstream" in error.message:
        hint = (
            "proxy_pass names an upstream that does not exist: the check's nginx defines one "
            "upstream group, `backend` (its backends' ports change every run), so write "
            "proxy_pass http://backend;"
        )
    return fail(
        EXERCISE,
        f"nginx refused the config with your block in it. nginx said:\n{said}{where}",
        hint,
    )


def _missing(block: str) -> list[str]:
    """The handshake's directives the block lacks."""
    needed = ("proxy_pass", "version", "upgrade", "connection")
    return [DIRECTIVES[k][1] for k in needed if not re.search(DIRECTIVES[k][0], block)]


def _websocket(block: str, url: str) -> list[str]:
    handshake = balancing.try_handshake(url)
    if not handshake.upgraded:
        missing = [d for d in _missing(serving(block, "/ws/whoami")[1]) if "pass " not in d]
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
        title = re.search(r"<title>(.*?)</title>", handshake.said)  # nginx's own error page
        said = title.group(1) if title else handshake.said[:160]
        said = f" ({said})" if said else ""
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
    status, backend = _answer(url + "/events")
    if status not in (None, 200):
        if status == 404 and backend is None:
            problem, hint = (
                "from nginx itself: no location of your block matches /events",
                "use `location / { ... }`, or add a location for /events with the same lines.",
            )
        else:
            problem = f"(from {backend or 'nginx'}), not a 200 stream"
            hint = "send the requests on to the upstream group: proxy_pass http://backend;"
        raise fail(EXERCISE, f"GET /events through nginx got {status} {problem}.", hint)
    if re.search(DIRECTIVES["version"][0], block) is None:
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


def _answer(url: str) -> tuple[int | None, str | None]:
    """The status and ``X-Backend`` of ``GET url``; ``(None, None)`` when even the headers did
    not come within a second or two (a buffering nginx holds them too)."""
    try:
        with httpx.stream("GET", url, timeout=scaled(2)) as response:
            return response.status_code, response.headers.get("X-Backend")
    except httpx.TimeoutException:
        return None, None
