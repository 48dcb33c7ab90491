"""The notification service's page (lesson 14): its route and hooks, and in real Chromium the
badge counting each post once, surviving a reload and an outage of its backend; pages with the
mistakes a learner makes are caught, each by name; the frame the learner's cell shows."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from html.parser import HTMLParser

import httpx
import pytest
from notify_support import login, post
from support import needs

from lab import notify_page
from lab.browser import blank_page_app, open_browser, render_output
from lab.notify_outages import OneBackend
from lab.notify_page import CONNECTED, drive_notify_page, notify_page_html
from servers import serve
from servers.notify import make_app, page
from servers.timing import scaled


class Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]


def test_the_page_has_every_id_the_tests_read_and_every_id_its_script_reads():
    parser = Ids()
    parser.feed(page.page_html())
    assert len(parser.ids) == len(set(parser.ids)), parser.ids
    assert set(page.IDS) <= set(parser.ids), set(page.IDS) - set(parser.ids)
    read_by_script = set(re.findall(r'\$\("([\w-]+)"\)', page.SCRIPT))
    assert read_by_script and read_by_script <= set(parser.ids), read_by_script - set(parser.ids)


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_get_slash_serves_the_page_as_html_with_a_policy_that_runs_only_its_own_script():
    with serve(make_app(), name="test-notify-page-route") as server:
        answer = httpx.get(server.url + "/", timeout=scaled(10))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    body = answer.text
    script = body.split("<script>", 1)[1].split("</script>", 1)[0]
    style = body.split("<style>", 1)[1].split("</style>", 1)[0]
    rules = dict(
        rule.strip().split(" ", 1) for rule in answer.headers["Content-Security-Policy"].split(";")
    )
    assert rules["default-src"] == "'none'"
    assert rules["script-src"] == sha256(script)  # no 'unsafe-inline', no other script
    assert rules["style-src"] == sha256(style)
    assert rules["connect-src"] == "'self'"


def drive(url: str, **options):
    return asyncio.run(drive_notify_page(url, **options))


@pytest.fixture
def backend():
    service = OneBackend("test-notify-page")
    yield service
    service.stop()


def test_in_chromium_the_badge_counts_each_post_once_and_survives_a_reload_and_an_outage(backend):
    needs("chromium")
    run = drive(backend.url, user="alice", posts=3, broadcasts=2, outage=backend)
    assert run.problems == [], run.summary()
    assert run.badges() == {
        "5 posted": 5,
        "mark all read": 0,
        "reload": 0,
        "one more post": 1,
        "outage, then one post": 2,
        "mark all read again": 0,
    }
    assert [len(set(step.listed)) for step in run.steps] == [5, 5, 5, 6, 7, 7]
    assert run.steps[1].server == {"alice": 0, "broadcast": 0}
    assert run.steps[2].drops == 0 and run.steps[4].drops >= 1  # it noticed the outage
    # alice's posts 1-3 and "one more" (4), broadcast's 1-2: each stream resumed where it was
    assert run.before_outage == {"alice": 4, "broadcast": 2}
    assert {channel: set(ids) for channel, ids in run.resumed.items()} == {
        "alice": {"4"},
        "broadcast": {"2"},
    }


BROKEN = {
    "mark_not_sent": (
        "channel.socket.send(JSON.stringify({read: channel.wanted}));",
        "channel.read = channel.wanted; render();",
        "the read mark never reached it",
    ),
    "counts_every_arrival": (
        "channel.newest = Math.max(channel.newest, post.id);",
        "channel.newest += 1;",
        "it counts a notification more than once",
    ),
    "no_history": (
        "?lastEventId=${channel.lastEventId}",
        "",
        "after a reload the list shows 0 of 5 notifications",
    ),
    "websocket_not_reopened": (
        "setTimeout(() => { if (channel.socket === socket) connect(channel); }, channel.retry);",
        "",
        "a WebSocket must be reopened by the page's script",
    ),
}


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_a_page_with_a_mistake_fails_the_run_with_a_message_naming_it(
    backend, monkeypatch, mistake
):
    needs("chromium")
    right, wrong, says = BROKEN[mistake]
    assert page.SCRIPT.count(right) == 1  # the mutation applies
    monkeypatch.setattr(page, "SCRIPT", page.SCRIPT.replace(right, wrong))
    run = drive(backend.url, user="bob", outage=backend, timeout=2.0)
    assert len(run.problems) == 1 and says in run.problems[0], run.summary()


def test_when_others_serve_the_page_it_must_be_back_before_its_backend_is_started_again(
    backend, monkeypatch
):
    # one backend that claims others serve the page: nothing can, so the page cannot be back
    # while it is down; started again at once (as before), it would be, and the run would pass
    needs("chromium")
    monkeypatch.setattr(backend, "others_serve", True, raising=False)
    run = drive(backend.url, user="dora", outage=backend, timeout=2.0)
    assert len(run.problems) == 1, run.summary()
    assert "did not reconnect to another backend while its own was down" in run.problems[0]
    assert httpx.get(backend.url + "/health", timeout=scaled(10)).status_code == 200  # it is up


class StreamsBringing:
    """A page whose EventSource brings its channel's ids one per look (``None``: not ours)."""

    def __init__(self, *held) -> None:
        self.held, self.looks = list(held), 0

    async def evaluate(self, script: str):
        assert script == notify_page.STREAMS_HOLD
        self.looks += 1
        return self.held.pop(0) if len(self.held) > 1 else self.held[0]


def test_before_the_outage_the_run_waits_until_the_streams_themselves_hold_the_newest_post():
    # listed from the WebSocket first, the post may not have come down the EventSource yet:
    # killed then, the backend would leave it to resume from the post before
    page = StreamsBringing({"erin": 3, "broadcast": 2}, {"erin": 3, "broadcast": 2},
                           {"erin": 4, "broadcast": 2})  # fmt: skip
    asyncio.run(notify_page._streams_hold(page, {"erin": 4, "broadcast": 2}, 5000))
    assert page.looks == 3 and page.held == [{"erin": 4, "broadcast": 2}]
    other = StreamsBringing(None)  # a page without the course's script: nothing to wait for
    asyncio.run(notify_page._streams_hold(other, {"erin": 4}, 5000))
    assert other.looks == 1


def test_without_chromium_the_run_says_nothing_was_checked_in_a_browser(monkeypatch):
    monkeypatch.setenv("COURSE_FALLBACK", "chromium")
    run = drive("http://127.0.0.1:9")  # nothing is asked of it
    assert not run.ran and run.steps == []
    assert run.summary().startswith("nothing was checked in a browser: chromium: fallback")


async def log_in_in_the_frame(notebook_url: str, frame_html: str) -> tuple[str, str]:
    """The frame's ``#state`` and ``#error`` after logging in inside it, the frame shown in
    a "notebook" page at ``notebook_url``."""
    async with open_browser() as browser:
        tab = await browser.new_page()
        await tab.goto(notebook_url)
        await render_output(tab, frame_html)
        frame = tab.frame_locator("iframe")
        await frame.locator("#user").fill("carol")
        await frame.locator("#login button").click()
        settled = '#state[data-state="connected"], #error:not(:empty)'
        await frame.locator(settled).first.wait_for(state="attached", timeout=scaled(10) * 1000)
        state = await frame.locator("#state").get_attribute("data-state")
        return state, await frame.locator("#error").text_content()


def test_the_learners_frame_in_a_localhost_notebook_logs_in_and_connects(backend):
    needs("chromium")
    with serve(blank_page_app(), name="test-notify-page-notebook") as notebook:
        at = notebook.url.replace("127.0.0.1", "localhost") + "/"
        state, error = asyncio.run(log_in_in_the_frame(at, notify_page_html(backend.url + "/")))
    assert (state, error) == ("connected", "")


def test_a_frame_left_on_127_0_0_1_in_a_localhost_notebook_gets_no_session_cookie(backend):
    """Why the frame is opened on the notebook's own host name: another site's frame gets no
    SameSite=Strict cookie, and the page says so."""
    needs("chromium")
    plain = f'<iframe src="{backend.url}/"></iframe>'
    with serve(blank_page_app(), name="test-notify-page-notebook") as notebook:
        at = notebook.url.replace("127.0.0.1", "localhost") + "/"
        state, error = asyncio.run(log_in_in_the_frame(at, plain))
    assert state == "logged-out"
    assert "the session cookie did not come back" in error


def test_behind_the_front_the_page_resumes_on_another_backend_when_its_own_is_killed():
    needs("chromium")
    from lab.notify_cluster import NotifyCluster
    from lab.notify_outages import KillPageBackend

    cluster = NotifyCluster.start(2, name="test-notify-page-cluster")
    try:
        run = drive(cluster.url, user="erin", outage=KillPageBackend(cluster, "erin"))
    finally:
        cluster.stop()
    assert run.problems == [], run.summary()
    assert run.badges()["outage, then one post"] == 2
    killed = run.down["erin"]
    assert run.serving["erin"][-1] != killed, run.serving  # nginx sent it to the other one
    assert set(run.resumed["erin"]) == {"4"}, run.resumed  # and it resumed after post 4


WAIT_MS = scaled(10) * 1000

HOSTILE = "<img src=x onerror=\"document.body.dataset.pwned = 'yes'\">"


async def a_hostile_post_in_the_page(url: str) -> tuple[str, int, int]:
    """Post ``HOSTILE`` to a logged-in page: the item's text, the images in the list, and
    whether the handler ran (waited for: the handler's mark, or the policy's refusal)."""
    async with open_browser() as browser:
        tab = await browser.new_page()
        refused = asyncio.get_running_loop().create_future()
        tab.on("console", lambda m: "Content Security Policy" in m.text and not refused.done()
               and refused.set_result(m.text))  # fmt: skip
        await tab.goto(url + "/")
        await tab.fill("#user", "mallory")
        await tab.click("#login button")
        await tab.wait_for_selector(CONNECTED, state="attached")
        token = await asyncio.to_thread(login, url, "sender")
        await asyncio.to_thread(post, url, "mallory", HOSTILE, token)
        await tab.wait_for_selector("#list li", state="attached")
        images = await tab.locator("#list img").count()
        if images:
            ran = asyncio.ensure_future(tab.wait_for_selector("body[data-pwned]", state="attached"))
            await asyncio.wait([ran, refused], timeout=scaled(10), return_when="FIRST_COMPLETED")
            ran.cancel()
        text = await tab.locator("#list li").first.text_content()
        return text, images, await tab.locator("body[data-pwned]").count()


@pytest.mark.parametrize(
    "as_html, policy, expected",
    [
        (False, True, (1, 0, 0)),  # the page writes text: the markup is shown, not parsed
        (True, True, (0, 1, 0)),  # a page that wrote HTML: the policy stops the handler
        (True, False, (0, 1, 1)),  # ... which without the policy runs: the control
    ],
)
def test_a_notifications_markup_is_shown_as_text_and_the_policy_stops_its_handler_anyway(
    backend, monkeypatch, as_html, policy, expected
):
    needs("chromium")
    if as_html:
        assert page.SCRIPT.count("li.textContent = ") == 1
        monkeypatch.setattr(
            page, "SCRIPT", page.SCRIPT.replace("li.textContent = ", "li.innerHTML = ")
        )
    if not policy:
        monkeypatch.setattr(page, "policy", lambda html: "default-src * 'unsafe-inline'")
    text, images, ran = asyncio.run(a_hostile_post_in_the_page(backend.url))
    assert (int(HOSTILE in text), images, ran) == expected, (text, images, ran)


async def logged_in_state(url: str) -> tuple[str, str]:
    async with open_browser() as browser:
        tab = await browser.new_page()
        await tab.goto(url + "/")
        await tab.fill("#user", "frank")
        await tab.click("#login button")
        await tab.wait_for_selector(
            "#error:not(:empty)", state="attached", timeout=scaled(5) * 1000
        )
        return await tab.locator("#state").get_attribute("data-state"), await tab.locator(
            "#error"
        ).text_content()


def test_a_page_whose_websocket_the_origin_check_refuses_says_so_and_keeps_trying():
    needs("chromium")
    app = make_app(allowed_origins=["https://elsewhere.example"])  # not this page's origin
    with serve(app, name="test-notify-page-refused") as server:
        state, error = asyncio.run(logged_in_state(server.url))
    assert state == "reconnecting"
    assert "the WebSocket closed before the service greeted it" in error
    assert "Origin check" in error


async def through_a_front_with_no_backend(cluster) -> list[tuple[int, str | None, str]]:
    """Log in, kill every backend, start them once the front has answered an EventSource
    with 502, then post: each ``/events`` request as (status, Last-Event-ID, query)."""
    seen, refused = [], asyncio.Event()

    async def record(response):
        if "/channels/hana/events" in response.url:
            sent = (await response.request.all_headers()).get("last-event-id")
            seen.append((response.status, sent, response.url.split("?", 1)[-1]))
            if response.status == 502:
                refused.set()

    async with open_browser() as browser:
        tab = await browser.new_page()
        tab.on("response", record)
        await tab.goto(cluster.url + "/")
        await tab.fill("#user", "hana")
        await tab.click("#login button")
        await tab.wait_for_selector(CONNECTED, state="attached", timeout=WAIT_MS)
        token = await cluster.login("sender")
        await cluster.post("hana", "before", token)
        await tab.wait_for_selector('#list li[data-id="1"]', state="attached", timeout=WAIT_MS)
        for backend in cluster.backends:
            backend.kill()
        await asyncio.wait_for(refused.wait(), scaled(10))  # the browser gives up on a 502
        for backend in cluster.backends:
            backend.start()
        await tab.wait_for_selector(CONNECTED, state="attached", timeout=WAIT_MS)
        await cluster.post("hana", "after", token)
        await tab.wait_for_selector('#list li[data-id="2"]', state="attached", timeout=WAIT_MS)
    return seen


def test_when_the_front_answers_502_the_page_reopens_its_eventsource_from_its_last_id():
    needs("chromium")
    from lab.notify_cluster import NotifyCluster

    cluster = NotifyCluster.start(2, name="test-notify-page-502")
    try:
        seen = asyncio.run(through_a_front_with_no_backend(cluster))
    finally:
        cluster.stop()
    refused = seen.index(next(s for s in seen if s[0] == 502))
    assert seen[refused][1] == "1"  # the browser's own retry, with the header, got 502 ...
    reopened = seen[refused + 1 :]  # ... and gave up: the page's new EventSource says 1 itself
    assert reopened and all(s[1] is None and s[2] == "lastEventId=1" for s in reopened), seen
    assert reopened[-1][0] == 200, seen
