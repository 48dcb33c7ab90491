"""Every route of the notification service answers bad input with a clear 4xx (lesson 14),
and ``/health`` and ``/metrics`` say how it is."""

from __future__ import annotations

import re

import httpx
import pytest
from httpx_sse import connect_sse
from notify_support import login, post
from support import wait_until

from servers import serve
from servers.notify import MemoryBrokers, make_app
from servers.notify.metrics import DeliveryLag, PostRate
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
        "lag_p99": None,
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
        line.startswith("posts taken        2 (0.20/s over the last 10 s; 0 retries answered")
        for line in lines
    )
    assert "drops              0 streams let go for being slow (write timeout 10 s)" in lines
    assert any(line.startswith("delivery lag p99   -") for line in lines)  # no post since


def test_metrics_give_the_delivery_lag_of_the_posts_a_stream_was_handed(service):
    token = login(service.url, "alice")
    with (
        httpx.Client(timeout=scaled(10)) as client,
        connect_sse(client, "GET", f"{service.url}/channels/broadcast/events") as source,
    ):
        wait_until(lambda: httpx.get(f"{service.url}/health").json()["clients"] == 1)
        for text in ("one", "two", "three"):
            post(service.url, "broadcast", text, token)
        got = []
        for event in source.iter_sse():
            got += [event.id] if event.data else []  # httpx-sse yields the bare retry: block
            if len(got) == 3:
                break
        wait_until(lambda: httpx.get(f"{service.url}/health").json()["lag_p99"] is not None)
        lag = httpx.get(f"{service.url}/health").json()["lag_p99"]
        page = httpx.get(f"{service.url}/metrics").text
    assert isinstance(lag, float) and lag >= 0
    line = next(line for line in page.splitlines() if line.startswith("delivery lag p99"))
    # a post that came before the stream parked was caught up, not broadcast: 1 to 3 samples
    assert re.fullmatch(
        rf"delivery lag p99   {lag * 1000:.1f} ms over [123] posts in the last "
        r"60 s \(publish -> handed to this backend's sockets\)",
        line,
    )


def test_the_delivery_lag_p99_is_the_nearest_rank_of_the_window_s_samples():
    now = [100.0]
    lag = DeliveryLag(window=60, clock=lambda: now[0])
    assert lag.p99() is None
    lag.record([now[0] - 0.001 * n for n in range(1, 101)])  # lags of 1..100 ms
    assert lag.p99() == pytest.approx(0.099) and lag.count() == 100
    lag.record([now[0] - 5.0])  # one slow post of 101: the 99th rank moves up one
    assert lag.p99() == pytest.approx(0.100)
    now[0] += 61  # every sample is out of the window
    assert lag.p99() is None and lag.count() == 0


@pytest.mark.parametrize(
    "origin, answered",
    [
        ("http://localhost:8888", True),  # a loopback page: the learner's JupyterLab
        ("http://127.0.0.1:9", True),
        ("http://evil.example", False),
        ("http://localhost.evil.example", False),
        ("null", False),
    ],
)
def test_only_pages_the_origin_policy_allows_may_read_answers_across_origins(
    service, origin, answered
):
    answer = httpx.get(f"{service.url}/health", headers={"Origin": origin})
    assert answer.headers.get("Access-Control-Allow-Origin") == (origin if answered else None)
    assert "Origin" in answer.headers.get("Vary", "")


def test_an_allow_list_names_the_pages_answered_across_origins_and_never_star():
    app = make_app(brokers=MemoryBrokers(), allowed_origins=["https://app.example"])
    with serve(app, name="test-notify-cors") as server:
        mine = httpx.get(f"{server.url}/health", headers={"Origin": "https://app.example"})
        other = httpx.get(f"{server.url}/health", headers={"Origin": "http://localhost:8888"})
        plain = httpx.get(f"{server.url}/health")
    assert mine.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_posts_per_second_count_the_posts_of_the_last_window_only():
    now = [0.0]
    rate = PostRate(window=10, clock=lambda: now[0])
    for at in (0.0, 1.0, 9.0):
        now[0] = at
        rate.taken()
    assert rate.per_second() == 0.3
    now[0] = 10.5  # the post at 0.0 is out of the window
    assert (rate.total, rate.per_second()) == (3, 0.2)


@pytest.mark.parametrize(
    "origin, bearer, status",
    [
        ("http://evil.example", False, 403),  # another site's page: its cookie would not come,
        ("http://localhost.evil.example", False, 403),  # but a refused Origin is refused anyway
        ("http://localhost:9999", False, 201),  # a loopback page: allowed by default
        (None, False, 201),  # no page at all (curl)
        ("http://evil.example", True, 201),  # a bearer token: no page can forge that header
    ],
)
def test_a_post_with_the_session_cookie_from_a_page_the_origin_policy_refuses_is_403(
    service, origin, bearer, status
):
    with httpx.Client(base_url=service.url, timeout=scaled(10)) as client:
        token = client.post("/login", json={"user": "alice"}).json()["token"]  # sets the cookie
        headers = {"Origin": origin} if origin else {}
        if bearer:
            headers["Authorization"] = f"Bearer {token}"
        answer = client.post("/channels/alice/posts", json={"text": "hi"}, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json()["error"].startswith("a POST with the session cookie is refused: ")


def test_an_allow_list_also_decides_which_pages_may_post_with_the_cookie():
    app = make_app(brokers=MemoryBrokers(), allowed_origins=["https://app.example"])
    with (
        serve(app, name="test-notify-csrf") as server,
        httpx.Client(base_url=server.url, timeout=scaled(10)) as client,
    ):
        client.post("/login", json={"user": "alice"})
        mine = client.post(
            "/channels/alice/read", json={"read": 0}, headers={"Origin": "https://app.example"}
        )
        local = client.post(
            "/channels/alice/read", json={"read": 0}, headers={"Origin": "http://localhost:1"}
        )
    assert mine.status_code == 200, mine.text
    assert local.status_code == 403 and "allow-list" in local.json()["error"]
