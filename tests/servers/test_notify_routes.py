"""Every route of the notification service answers bad input with a clear 4xx (lesson 14),
and ``/health`` and ``/metrics`` say how it is."""

from __future__ import annotations

import httpx
import pytest
from httpx_sse import connect_sse
from notify_support import login, post
from support import wait_until

from servers import serve
from servers.notify import MemoryBrokers, make_app
from servers.notify.metrics import PostRate
from servers.timing import scaled


@pytest.fixture
def service():
    brokers = MemoryBrokers()
    with serve(make_app(brokers=brokers), name="test-notify-routes") as server:
        server.brokers = brokers
        yield server


@pytest.mark.parametrize(
    "path, body, says",
    [
        ("/login", b"not json", "the body must be JSON"),
        ("/login", b"[1, 2]", "the body must be a JSON object, got list"),
        ("/login", b"{}", '"user" must be 1 to 32 characters'),
        ("/login", b'{"user": "Alice Smith"}', '"user" must be 1 to 32 characters'),
        ("/login", b'{"user": "broadcast"}', '"broadcast" names a channel, not a user'),
        ("/channels/broadcast/posts", b"{", "the body must be JSON"),
        ("/channels/broadcast/posts", b'{"txt": "hi"}', 'missing "text"'),
        ("/channels/broadcast/posts", b'{"text": "  "}', '"text" is empty'),
        ("/channels/broadcast/posts", b'{"text": 7}', '"text" must be a string, got int'),
        ("/channels/broadcast/posts", b'{"text": "%s"}' % (b"x" * 1001), "the limit is 1000"),
        ("/channels/No%20Such/posts", b'{"text": "hi"}', "no channel 'No Such'"),
    ],
)
def test_bad_input_to_a_post_route_gets_400_or_404_saying_what_is_wrong(service, path, body, says):
    token = login(service.url, "alice")
    answer = httpx.post(
        service.url + path,
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=scaled(10),
    )
    assert answer.status_code in (400, 404), answer.text
    assert says in answer.json()["error"], answer.json()


@pytest.mark.parametrize("route", ["events", "ws"])
def test_a_stream_of_a_channel_that_cannot_exist_is_404(service, route):
    answer = httpx.get(f"{service.url}/channels/-dash/{route}", timeout=scaled(10))
    assert answer.status_code == 404 and "no channel '-dash'" in answer.json()["error"]


def test_a_wrong_method_and_an_unknown_route_say_so_in_json(service):
    wrong = httpx.get(f"{service.url}/login")
    assert wrong.status_code == 405 and "GET is not allowed on /login" in wrong.json()["error"]
    missing = httpx.get(f"{service.url}/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "no route for /nothing"}


def test_a_post_while_the_backplane_is_down_is_503_and_may_be_retried(service):
    token = login(service.url, "alice")
    post(service.url, "broadcast", "before", token)
    service.brokers("broadcast").stop()
    answer = httpx.post(
        f"{service.url}/channels/broadcast/posts",
        json={"text": "during"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 503 and "backplane is unavailable" in answer.json()["error"]


def test_health_answers_200_with_a_small_json(service):
    answer = httpx.get(f"{service.url}/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "broker": "memory",
        "clients": 0,
        "channels": 0,
        "subscribed": 0,
        "posts": 0,
        "drops": 0,
    }


def test_metrics_count_connected_clients_posts_and_drops_in_lines_a_person_reads(service):
    token = login(service.url, "alice")
    for text in ("one", "two"):
        post(service.url, "broadcast", text, token)
    with (
        httpx.Client(timeout=scaled(10)) as client,
        connect_sse(client, "GET", f"{service.url}/channels/broadcast/events") as source,
    ):
        assert source.response.status_code == 200
        wait_until(lambda: httpx.get(f"{service.url}/health").json()["clients"] == 1)
        page = httpx.get(f"{service.url}/metrics")
    assert page.headers["Content-Type"].startswith("text/plain")
    lines = page.text.splitlines()
    assert lines[0].startswith("notification service (memory backplane), up ")
    assert "connected clients  1 (SSE streams 1, WebSockets 0)" in lines
    assert "channels open      1 (1 on the backplane)" in lines
    assert any(
        line.startswith("posts taken        2 (0.20/s over the last 10 s)") for line in lines
    )
    assert "drops              0 streams let go for being slow (write timeout 10 s)" in lines


def test_posts_per_second_count_the_posts_of_the_last_window_only():
    now = [0.0]
    rate = PostRate(window=10, clock=lambda: now[0])
    for at in (0.0, 1.0, 9.0):
        now[0] = at
        rate.taken()
    assert rate.per_second() == 0.3
    now[0] = 10.5  # the post at 0.0 is out of the window
    assert (rate.total, rate.per_second()) == (3, 0.2)
