"""Which nginx defaults hold a stream back: the four combinations (lesson 03 introduces it).

For a proxied location nginx defaults to ``proxy_http_version 1.0`` and ``proxy_buffering on``
(nginx docs, ngx_http_proxy_module). ``location_block(version, buffering)`` writes the location
for one combination, both directives spelled out; ``through_nginx(location, headers)`` sends
the seed's clock (8 events, 0.25 s apart) through a real nginx and returns a ``Run``: when each
event arrived, the HTTP version nginx asked the upstream in, and a verdict — held until the
stream ended, each event when it was written, or "inconclusive" when the times show neither (a
loaded machine can blur them). ``table`` prints runs side by side and ``compare`` writes the
sentence about them from the verdicts, so a lesson never states a pattern its run did not show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from aiohttp import web

from servers import clock, serve
from servers.nginx import Nginx

COMBINATIONS = [("1.0", "on"), ("1.1", "on"), ("1.0", "off"), ("1.1", "off")]
"""(``proxy_http_version``, ``proxy_buffering``): nginx's defaults first."""

HELD, STREAMED, INCONCLUSIVE = "held until the end", "each when written", "inconclusive"
INTERVAL, COUNT = 0.25, 8
"""The clock sends ``COUNT`` events, ``INTERVAL`` seconds apart."""


@dataclass(frozen=True)
class Run:
    times: list[float]
    """Seconds from the request to the arrival of each event."""
    asked: str
    """The HTTP version of nginx's request to the upstream."""
    verdict: str


def location_block(version: str, buffering: str, extra: str = "") -> str:
    """An nginx location proxying to ``backend`` with these two settings (and ``extra`` lines)."""
    lines = [f"proxy_http_version {version};", f"proxy_buffering {buffering};", extra]
    return "location / { proxy_pass http://backend; " + " ".join(filter(None, lines)) + " }"


def arrivals(url: str, timeout: float = 10) -> list[float]:
    """Seconds from the request to the arrival of each ``data:`` line at ``url`` (gzip decoded)."""
    started, times = time.monotonic(), []
    with httpx.stream("GET", url, timeout=timeout) as response:
        for chunk in response.iter_bytes():
            times += [time.monotonic() - started] * chunk.count(b"data:")
    return times


def record_versions(app: web.Application) -> list[str]:
    """Record the HTTP version of each request ``app`` gets (call before serving it)."""
    versions: list[str] = []

    @web.middleware
    async def remember(request: web.Request, handler):
        versions.append(f"HTTP/{request.version.major}.{request.version.minor}")
        return await handler(request)

    app.middlewares.append(remember)
    return versions


def verdict(times: list[float], interval: float = INTERVAL, count: int = COUNT) -> str:
    """``HELD`` when all ``count`` events came together after the last was written, ``STREAMED``
    when they came spread out like the writes (``interval`` s apart, none of them later than
    half the stream's length behind its write), ``INCONCLUSIVE`` otherwise."""
    written = interval * (count - 1)  # when the server wrote the last event
    if len(times) != count:
        return INCONCLUSIVE
    spread = times[-1] - times[0]
    if spread < interval / 2 and times[0] >= 0.9 * written:
        return HELD
    lateness = max(at - n * interval for n, at in enumerate(times))  # behind its write
    if spread >= 0.8 * written and lateness < written / 2:
        return STREAMED
    return INCONCLUSIVE


def through_nginx(location: str, headers: dict[str, str] = clock.SSE_HEADERS) -> Run:
    """The clock, sending ``headers``, read through a real nginx with this location block."""
    app = clock.make_clock_app(INTERVAL, COUNT, headers)
    asked = record_versions(app)
    with serve(app) as upstream, Nginx(location, [f"{upstream.host}:{upstream.port}"]) as nginx:
        times = arrivals(nginx.url + "/time")
    return Run(times, asked[0] if asked else "none", verdict(times))


def table(runs: dict[str, Run], label: str = "version, buffering") -> str:
    """One line per run: its name, the upstream request's version, arrivals, verdict."""
    width = max(len(label), *map(len, runs))
    lines = [f"{label:{width}}  upstream  {'arrival of each event (s)':<39}  verdict"]
    for name, run in runs.items():
        times = " ".join(f"{t:4.2f}" for t in run.times)
        lines.append(f"{name:{width}}  {run.asked:8}  {times:<39}  {run.verdict}")
    return "\n".join(lines)


def compare(runs: dict[str, Run], expected: dict[str, str]) -> str:
    """A sentence about ``runs`` against the ``expected`` verdict of each, from the verdicts."""
    differ = {name: run.verdict for name, run in runs.items() if run.verdict != expected[name]}
    if not differ:
        held = [name for name, run in runs.items() if run.verdict == HELD]
        named = " and ".join(f'"{name}"' for name in held) or "none"
        return (
            f"As explained below: held until the stream ended only in rows {named}; every other "
            "row delivered each event when it was written."
        )
    rows = "; ".join(f"{name}: expected {expected[name]!r}, got {got!r}" for name, got in
                     differ.items())  # fmt: skip
    if set(differ.values()) == {INCONCLUSIVE}:
        return (
            f"Inconclusive this run ({rows}): the times show neither a held stream nor one "
            "arriving as written — a loaded machine blurs them. Run the cell again."
        )
    return (
        f"This run contradicts the explanation below ({rows}): your nginx (`nginx -v`) may "
        "behave differently from the nginx 1.22 this lesson was written with."
    )
