"""Authenticating an SSE stream three ways: a cookie, a token in the URL, a ``fetch()`` reader
with ``Authorization`` (lesson 12).

``EventSource`` cannot send a header of its own (whatwg/html issue 2177), so a stream is
authenticated by what the browser sends anyway — a cookie — or by something in the URL. A
reader written on ``fetch()`` can send ``Authorization``, and then does by hand what
``EventSource`` did for free: parse the stream and reconnect with ``Last-Event-ID``.

``private_stream_app(tokens, cors=...)``: ``GET /login`` (a toy login, no password) sets a
session cookie; ``GET /events`` sends ``events_per_connection`` private events and ends the
response (so that a reader must reconnect), to whoever shows a valid session cookie, a
``?token=`` or an ``Authorization: Bearer`` token, and resumes after ``Last-Event-ID``.
``cors`` says what its CORS headers are: ``"star"`` (``Access-Control-Allow-Origin: *``) or
``"exact"`` (the request's ``Origin`` echoed, with ``Access-Control-Allow-Credentials: true``,
for the origins in ``allowed``). Every request is recorded (``Request``): how it was
authenticated and whether it was accepted, never the credential. ``pages_app(stream_url)``
serves the pages Chromium runs; ``run_pages`` drives them; ``token_in_access_log`` reads a
real nginx access log after a client used ``?token=``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from lab.tokens import Refused, Tokens, redact
from servers.sse import encode_event

COOKIE = "session"


@dataclass(frozen=True)
class Request:
    """One ``/events`` request as the server saw it."""

    via: str
    """``cookie``, ``query``, ``header`` or ``none``: which credential came with it."""
    accepted: bool
    why: str
    last_event_id: str | None


@dataclass
class StreamState:
    tokens: Tokens
    cors: str
    allowed: frozenset[str]
    events_per_connection: int
    requests: list[Request] = field(default_factory=list)


STATE = web.AppKey("stream_auth_state", StreamState)


def private_stream_app(
    tokens: Tokens,
    *,
    cors: str = "exact",
    allowed: tuple[str, ...] = (),
    events_per_connection: int = 2,
) -> web.Application:
    """The stream described above; ``app[STATE]`` holds its settings and its record."""
    state = StreamState(tokens, cors, frozenset(allowed), events_per_connection)

    def cors_headers(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if state.cors == "star":
            return {"Access-Control-Allow-Origin": "*"}
        if origin in state.allowed:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                    "Access-Control-Allow-Credentials": "true"}
        return {}

    async def login(request: web.Request) -> web.Response:
        token = tokens.issue("learner")
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/"
        return web.Response(text="logged in", headers={"Set-Cookie": cookie})

    async def preflight(request: web.Request) -> web.Response:
        headers = cors_headers(request)
        if headers:
            headers["Access-Control-Allow-Headers"] = "Authorization, Last-Event-ID"
        return web.Response(status=204, headers=headers)

    async def events(request: web.Request) -> web.StreamResponse:
        via, credential = credential_of(request)
        last = request.headers.get("Last-Event-ID")
        try:
            user = tokens.check(credential)
        except Refused as refused:
            state.requests.append(Request(via, False, str(refused), last))
            return web.json_response({"error": str(refused)}, status=401,
                                     headers=cors_headers(request))
        state.requests.append(Request(via, True, f"as {user}", last))
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                   **cors_headers(request)}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        start = int(last) if last and last.isdigit() else 0
        for number in range(start + 1, start + 1 + state.events_per_connection):
            data = json.dumps({"private": f"event {number} for {user}"})
            await response.write(encode_event(data, id=number, retry=100))
        return response

    app = web.Application()
    app[STATE] = state
    app.router.add_get("/login", login)
    app.router.add_get("/events", events)
    app.router.add_route("OPTIONS", "/events", preflight)
    return app


def credential_of(request: web.Request) -> tuple[str, str | None]:
    """Which credential a request carries, and its value (the header wins, then the query)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "header", header.removeprefix("Bearer ")
    if "token" in request.query:
        return "query", request.query["token"]
    if COOKIE in request.cookies:
        return "cookie", request.cookies[COOKIE]
    return "none", None


EVENTSOURCE_PAGE = """<!doctype html><script>
const result = {events: [], error: false};
const source = new EventSource(%(url)s, {withCredentials: %(credentials)s});
const done = () => { source.close(); document.body.dataset.result = JSON.stringify(result); };
source.onmessage = event => {
  result.events.push(JSON.parse(event.data).private);
  if (result.events.length >= %(wanted)d) done();
};
source.onerror = () => { result.error = true; if (source.readyState === 2) done(); };
setTimeout(done, %(give_up_ms)d);
</script>"""
"""An ``EventSource`` page: the events it got, whether it saw an error. ``readyState`` 2 is
CLOSED: the browser gave up (a 401, a CORS refusal) instead of reconnecting."""

FETCH_PAGE = """<!doctype html><script>
const result = {events: [], connections: 0, reconnect: %(reconnect)s};
async function read(lastId) {
  const headers = {Authorization: "Bearer " + %(token)s};
  if (lastId) headers["Last-Event-ID"] = lastId;
  result.connections += 1;
  const response = await fetch(%(url)s, {headers});
  result.status = response.status;
  if (!response.ok) throw new Error("HTTP " + response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return lastId;
    buffer += value;
    const blocks = buffer.split("\\n\\n");
    buffer = blocks.pop();
    for (const block of blocks) {
      const id = /^id: ?(.*)$/m.exec(block), data = /^data: ?(.*)$/m.exec(block);
      if (id) lastId = id[1];
      if (data) result.events.push(JSON.parse(data[1]).private);
    }
  }
}
(async () => {
  let lastId = await read(null);
  while (result.reconnect && result.events.length < %(wanted)d) lastId = await read(lastId);
})().catch(error => { result.error = String(error); })
  .finally(() => { document.body.dataset.result = JSON.stringify(result); });
</script>"""
"""A ``fetch()`` reader sending ``Authorization``: it parses ``id:`` and ``data:`` lines itself
and, with ``reconnect``, opens a new request with ``Last-Event-ID`` when the response ends."""


def eventsource_page(url: str, *, credentials: bool, wanted: int = 3,
                     give_up_ms: float = 5000) -> str:
    return EVENTSOURCE_PAGE % {"url": json.dumps(url), "credentials": json.dumps(credentials),
                               "wanted": wanted, "give_up_ms": give_up_ms}


def fetch_page(url: str, token: str, *, reconnect: bool, wanted: int = 4) -> str:
    return FETCH_PAGE % {"url": json.dumps(url), "token": json.dumps(token),
                         "reconnect": json.dumps(reconnect), "wanted": wanted}


def pages_app(pages: dict[str, str]) -> web.Application:
    """Serve each page's HTML (path → HTML), ``/`` a blank page."""
    app = web.Application()

    def answer(text: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type="text/html")
        return handler

    app.router.add_get("/", answer("<!doctype html><title>pages</title>"))
    for path, text in pages.items():
        app.router.add_get(path, answer(text))
    return app


async def run_pages(login_url: str, page_urls: dict[str, str], timeout_ms: float,
                    state: StreamState, settings: tuple[str, ...]) -> dict[str, dict]:
    """In one fresh Chromium: open ``login_url`` (sets the cookie), then, for each CORS
    setting in ``settings`` (``state.cors`` set to it), each page in turn: setting → page name
    → what the page reported, plus ``"server"`` → the requests the server saw meanwhile."""
    from lab.browser import open_browser

    results = {}
    async with open_browser() as browser:
        tab = await browser.new_page()
        await tab.goto(login_url)
        for setting in settings:
            state.cors, before, seen = setting, len(state.requests), {}
            for name, url in page_urls.items():
                await tab.goto(url)
                await tab.wait_for_function("document.body && document.body.dataset.result",
                                            timeout=timeout_ms)
                seen[name] = json.loads(await tab.evaluate("document.body.dataset.result"))
            seen["server"] = state.requests[before:]
            results[setting] = seen
    return results


ACCESS_LOG = "access_log {path};"


def nginx_log_location(folder: str) -> tuple[str, Path]:
    """A location block proxying streams with nginx's default access log format
    (``combined``) written to ``folder``; the block and the log's path."""
    path = Path(folder) / "access.log"
    block = f"""location / {{
    {ACCESS_LOG.format(path=path)}
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_buffering off;
}}"""
    return block, path


def token_in_access_log(log: str, token: str) -> list[str]:
    """The log's lines that contain ``token``, redacted for printing."""
    return [redact(line, token) for line in log.splitlines() if token in line]


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="course-log-", ignore_cleanup_errors=True)
