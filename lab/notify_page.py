"""The notification service's page in a browser: the learner's, and headless Chromium
(lesson 14).

``show_notify_page(url)`` displays the page the service serves at ``GET /``
(``servers.notify.page``) in an ``<iframe>`` in the cell's output, reached the way the
learner's browser can (``lab.reach``: directly, or through ``jupyter-server-proxy``). Directly,
the frame is opened on the notebook page's own loopback host name: the page's session cookie
is ``SameSite=Strict``, and a frame on ``127.0.0.1`` inside a JupyterLab on ``localhost`` is
another site, which gets no such cookie (measured in Chromium, ``tests/lab/
test_notify_page.py``). Through the proxy the frame is on JupyterLab's own origin.

``drive_notify_page(url)`` runs the page in headless Chromium (``lab.browser``) and returns a
``PageRun``: log in by name, ``posts`` notifications to the user's channel and ``broadcasts``
to ``broadcast`` (posted from Python over the service's HTTP API, after marking what the
channels held read: a fresh inbox), the badge must show their sum, each listed once; "mark
all read", the badge 0 and the server counts nothing unread; a reload, still 0 and the list
still shown; one more post, the badge 1. With an ``outage`` (``lab.notify_outages``:
``.down(serving)``, told which backend served each channel's stream, ``.up()``, and
``.others_serve``: the page's backend dies, and comes back, or others behind the front serve
the page and it is started again once the page is back), the page must show
"reconnecting", be connected again, take the next post (badge 2) and mark it read. The run
stops at the first step that fails; ``PageRun.problems`` says which and why, in words that name
the likely mistake (``lab.notify_verdicts``). Without Chromium (``servers.system.real_part``)
nothing runs and the ``PageRun`` says so; in CI a missing Chromium is an error.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import time
from dataclasses import dataclass, field

import httpx

from lab import notify_verdicts as verdicts
from lab.notify_verdicts import Step
from lab.reach import BrowserURL, browser_url, js_address
from servers.notify import BROADCAST
from servers.system import real_part
from servers.timing import scaled

SENDER = "notifier"
"""Who posts the notifications (any logged-in user may notify any channel)."""

_frames = itertools.count(1)

FRAME = """<iframe id="{id}" title="the notification service's page"
  style="width: 100%; height: {height}px; border: 1px solid #ccc; border-radius: 4px"></iframe>
<div style="font: 12px monospace; color: #666">the service's own page: <span id="{id}-at"></span>
</div>
<script>
(() => {{
  let src = {src};
  if ({direct} && location.hostname === "localhost") {{  // this page's site: the cookie works
    const url = new URL(src);
    url.hostname = "localhost";
    src = url.href;
  }}
  document.getElementById({id_json}).src = src;
  document.getElementById({id_json} + "-at").textContent = src;
}})();
</script>"""


def notify_page_html(url: str | BrowserURL, *, height: int = 380) -> str:
    """An ``<iframe>`` of the service's page at ``url`` (its ``/``), as ``lab.reach`` routes it
    (a plain string: opened as it is, with the host-name rule of the module's docstring)."""
    frame = f"notify-page-{next(_frames)}"
    direct = not (isinstance(url, BrowserURL) and url.decision.proxied)
    return FRAME.format(
        id=frame, id_json=json.dumps(frame), height=height, src=js_address(url),
        direct=json.dumps(direct),
    )  # fmt: skip


def show_notify_page(url: str, *, height: int = 380):
    """Display the service at ``url`` (an in-kernel or front loopback address) in this cell."""
    from IPython.display import HTML

    return HTML(notify_page_html(browser_url(url.rstrip("/") + "/"), height=height))


@dataclass
class PageRun:
    """One run of the page in headless Chromium (``drive_notify_page``)."""

    browser: str
    """The Chromium that ran it, or ``""``: then ``note`` says why nothing ran."""
    note: str
    user: str
    posts: int
    broadcasts: int
    steps: list[Step] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    serving: dict[str, list[str]] = field(default_factory=dict)
    """Channel -> the backends (``X-Backend``) that served its EventSource, in turn."""
    down: dict[str, str] = field(default_factory=dict)
    """With an outage: channel -> the backend serving its stream when the outage began."""
    before_outage: dict[str, int] = field(default_factory=dict)
    """With an outage: channel -> the newest post id the page listed when it began."""
    resumed: dict[str, list[str | None]] = field(default_factory=dict)
    """With an outage: channel -> the ``Last-Event-ID`` of each request its EventSource made
    to reconnect (lesson 04: the browser sends the last id it got, by itself), or the query
    (``?lastEventId=N``) of a new EventSource the page opened when the browser gave up."""
    problems: list[str] = field(default_factory=list)
    """Empty when every step showed what it must; else the first failure, named."""

    @property
    def ran(self) -> bool:
        return bool(self.browser)

    def badges(self) -> dict[str, int | None]:
        """Step name -> the badge it showed."""
        return {step.name: step.badge for step in self.steps}

    def summary(self) -> str:
        if not self.ran:
            return f"nothing was checked in a browser: {self.note}"
        lines = [f"headless Chromium ({self.browser}), user {self.user!r}:"]
        for step in self.steps:
            server = f", server unread {step.server}" if step.server else ""
            lines.append(
                f"  {step.name:<34} badge {step.badge} (expected {step.expected}), "
                f"{len(step.listed)} listed{server}"
            )
        for channel, ids in self.resumed.items():
            was = ""
            if channel in self.down:  # the backends' names, behind a front
                was = f" (on {self.down[channel]}, now {self.serving[channel][-1]})"
            newest = self.before_outage.get(channel)
            lines.append(
                f"  {channel}'s EventSource reconnected{was}, Last-Event-ID {ids} (the newest "
                f"post it had listed: {newest})"
            )
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


BADGE = '#badge[data-unread="{}"]'
ITEM = '#list li[data-channel="{}"][data-id="{}"]'
CONNECTED = '#state[data-state="connected"]'


async def drive_notify_page(
    url: str,
    *,
    user: str = "learner",
    posts: int = 3,
    broadcasts: int = 2,
    outage=None,
    timeout: float = 10.0,
) -> PageRun:
    """Run the scenario of the module's docstring on the service at ``url``; ``timeout``
    (scaled) bounds each wait."""
    part = real_part("chromium")
    run = PageRun(part.path or "", part.note, user, posts, broadcasts)
    if not part.real:
        return run
    from lab.browser import open_browser

    url = url.rstrip("/")
    wait_ms = scaled(timeout) * 1000
    async with (
        httpx.AsyncClient(base_url=url, timeout=scaled(timeout)) as http,
        open_browser(executable=part.path) as browser,
    ):
        notifier = Poster(http, await _token(http, SENDER))
        mine = {"Authorization": f"Bearer {await _token(http, user)}"}
        page = await browser.new_page()
        page.on("pageerror", lambda error: run.page_errors.append(str(error)))
        streams = []
        page.on("request", lambda request: "/events" in request.url and streams.append(request))

        def served(response) -> None:
            name = response.headers.get("x-backend")
            if "/events" in response.url and name:
                names = run.serving.setdefault(_channel_of(response.url), [])
                if not names or names[-1] != name:
                    names.append(name)

        page.on("response", served)

        async def step(name: str, expected: int, ask: bool = False) -> Step:
            # the posts in the list first (a reload replays it), then the badge; a wrong
            # page's badge never comes, and what it shows instead is read after the wait
            deadline = time.monotonic() + wait_ms / 1000  # one wait for all the posts
            for channel, post_id in notifier.sent:
                left = max(1.0, (deadline - time.monotonic()) * 1000)
                await _appears(page, ITEM.format(channel, post_id), left)
            await _appears(page, BADGE.format(expected), wait_ms)
            shown = await page.locator("#badge").get_attribute("data-unread")
            items = await page.locator("#list li").evaluate_all(
                "items => items.map(li => [li.dataset.channel, Number(li.dataset.id)])"
            )
            drops = await page.locator("#state").get_attribute("data-drops")
            listed = [tuple(item) for item in items]
            missing = [item for item in notifier.sent if item not in listed]
            result = Step(name, expected, _number(shown), listed, drops=_number(drops) or 0,
                          missing=missing)  # fmt: skip
            if ask:
                result.server = {
                    c: s["unread"] for c, s in (await _reads(http, user, mine)).items()
                }
            run.steps.append(result)
            return result

        for channel, state in (await _reads(http, user, mine)).items():  # a fresh inbox
            if state["unread"]:
                newest = {"read": state["read"] + state["unread"]}
                await http.post(f"/channels/{channel}/read", json=newest, headers=mine)
        await page.goto(url + "/")
        await page.fill("#user", user)
        await page.click("#login button")
        if not await _appears(page, CONNECTED, wait_ms):
            error = await page.locator("#error").text_content()
            run.problems.append(f"the page did not connect after logging in: {error!r}")
            return run
        for number in range(posts):
            await notifier.post(user, f"for {user} #{number + 1}")
        for number in range(broadcasts):
            await notifier.post(BROADCAST, f"for everyone #{number + 1}")
        total = posts + broadcasts
        checks = [
            (f"{total} posted", total, False, verdicts.live),
            ("mark all read", 0, True, verdicts.marked),
            ("reload", 0, False, verdicts.reloaded),
            ("one more post", 1, False, verdicts.one_more),
        ]
        for name, expected, ask, judge in checks:
            if name == "mark all read":
                await page.click("#mark-read")
            elif name == "reload":
                await page.reload()
                await _appears(page, CONNECTED, wait_ms)
            elif name == "one more post":
                await notifier.post(user, "one more")
            problem = judge(await step(name, expected, ask), total)
            if problem:
                run.problems.append(problem)
                return run
        if outage is not None:
            before = len(streams)
            await _outage(run, page, outage, notifier, step, wait_ms)
            for request in streams[before:]:
                sent = (await request.all_headers()).get("last-event-id")
                if sent is None:  # a new EventSource, opened by the page: its query says
                    sent = "?" + request.url.split("?", 1)[-1]
                run.resumed.setdefault(_channel_of(request.url), []).append(sent)
    if run.page_errors and not run.problems:
        run.problems.append(f"the page's script failed: {run.page_errors[0]}")
    return run


class Poster:
    """Posts notifications over the service's HTTP API with one user's token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {token}"}
        self.sent: list[tuple[str, int]] = []
        """``(channel, id)`` of each post made, in order."""

    async def post(self, channel: str, text: str) -> dict:
        answer = await self.http.post(
            f"/channels/{channel}/posts", json={"text": text}, headers=self.headers
        )
        answer.raise_for_status()
        post = answer.json()
        self.sent.append((channel, post["id"]))
        return post


async def _reads(http: httpx.AsyncClient, user: str, headers: dict) -> dict[str, dict]:
    """Channel -> ``{"read", "unread"}``: the server's read state of ``user``'s channels."""
    states = {}
    for channel in (user, BROADCAST):
        answer = await http.get(f"/channels/{channel}/read", headers=headers)
        answer.raise_for_status()
        states[channel] = answer.json()
    return states


async def _token(http: httpx.AsyncClient, user: str) -> str:
    answer = await http.post("/login", json={"user": user})
    answer.raise_for_status()
    return answer.json()["token"]


async def _appears(page, selector: str, wait_ms: float) -> bool:
    """Whether ``selector`` matches within ``wait_ms`` (a selector, not a script: the page's
    Content-Security-Policy forbids evaluating strings)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_selector(selector, state="attached", timeout=wait_ms)
    except PlaywrightTimeout:
        return False
    return True


def _channel_of(url: str) -> str:
    return url.split("/channels/", 1)[1].split("/", 1)[0]


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


async def _call(action) -> None:
    result = action()
    if inspect.isawaitable(result):
        await result


STREAMS_HOLD = """() => typeof channels === "undefined" ? null :
  Object.fromEntries([...channels.values()].map(c => [c.name, c.lastEventId]))"""
"""Channel -> the id of the last post the page's EventSource brought (``null``: not this
page's script)."""


async def _streams_hold(page, newest: dict[str, int], wait_ms: float) -> None:
    """Wait until each channel's EventSource has itself brought the newest post the page lists.
    The page lists a post from whichever of its EventSource and WebSocket brings it first (they
    may be on two backends); killed before its stream brought it, a backend leaves the
    EventSource to resume from the post before."""
    deadline = time.monotonic() + wait_ms / 1000
    while time.monotonic() < deadline:
        held = await page.evaluate(STREAMS_HOLD)
        if held is None or all(held.get(c, 0) >= n for c, n in newest.items()):
            return
        await asyncio.sleep(0.05)


async def _outage(run: PageRun, page, outage, notifier: Poster, step, wait_ms: float) -> None:
    """The page's backend goes down and comes back (or is replaced): the page must notice,
    reconnect (the WebSocket by its own script), take the next post and mark it read."""
    run.down = {channel: names[-1] for channel, names in run.serving.items()}
    for channel, post_id in run.steps[-1].listed:
        run.before_outage[channel] = max(post_id, run.before_outage.get(channel, 0))
    await _streams_hold(page, run.before_outage, wait_ms)
    await _call(lambda: outage.down(dict(run.down)))
    noticed = await _appears(page, '#state:not([data-state="connected"])', wait_ms)
    if outage.others_serve and noticed:  # back on another backend, while its own is down
        connected = await _appears(page, CONNECTED, wait_ms)
        await _call(outage.up)
    else:
        await _call(outage.up)
        connected = noticed and await _appears(page, CONNECTED, wait_ms)
    if not noticed:
        run.problems.append("the page never showed 'reconnecting' while its backend was down")
        return
    if not connected:
        where = "to another backend while its own was down" if outage.others_serve else (
            "after its backend came back")
        run.problems.append(
            f"the page did not reconnect {where}: an EventSource reconnects by itself, a "
            "WebSocket must be reopened by the page's script"
        )
        return
    await notifier.post(run.user, "after the outage")
    after = await step("outage, then one post", 2)
    if after.badge != 2:
        run.problems.append(f"after the outage one more post: the badge shows {after.badge}, not 2")
        return
    await page.click("#mark-read")
    marked = await step("mark all read again", 0, True)
    if sum(marked.server.values()) or marked.badge != 0:
        run.problems.append(
            f"after the outage 'mark all read' left {marked.server} unread on the server and the "
            f"badge at {marked.badge}: the page's WebSocket did not come back"
        )
