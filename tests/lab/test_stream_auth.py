"""lab.stream_auth: an SSE stream behind a cookie, a URL token or Authorization, for real."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from support import needs, wait_until

from lab.stream_auth import (
    STATE,
    eventsource_page,
    fetch_page,
    nginx_log_location,
    pages_app,
    private_stream_app,
    run_pages,
    temporary_folder,
    token_in_access_log,
)
from lab.tokens import Tokens
from servers import serve
from servers.sse import EventParser


@pytest.fixture
def stream():
    tokens = Tokens(ttl=60)
    with serve(private_stream_app(tokens, allowed=("http://localhost:1",)),
               name="test-stream-auth") as server:
        yield server, tokens


def events_of(answer: httpx.Response) -> list[str]:
    return [event.last_event_id for event in EventParser().feed(answer.content)]


@pytest.mark.parametrize("via", ["cookie", "query", "header"])
def test_each_credential_opens_the_stream_and_is_recorded_by_kind(stream, via):
    server, tokens = stream
    token = tokens.issue("learner")
    options = {"cookie": {"cookies": {"session": token}}, "query": {"params": {"token": token}},
               "header": {"headers": {"Authorization": f"Bearer {token}"}}}[via]
    answer = httpx.get(server.url + "/events", **options)
    assert answer.status_code == 200 and events_of(answer) == ["1", "2"]
    assert [(r.via, r.accepted) for r in server.app[STATE].requests] == [(via, True)]


def test_no_credential_or_an_expired_one_gets_401_saying_why(stream):
    server, tokens = stream
    assert httpx.get(server.url + "/events").json() == {"error": "no token"}
    expired = httpx.get(server.url + "/events", params={"token": tokens.issue("x", ttl=-1)})
    assert expired.status_code == 401 and expired.json() == {"error": "token expired"}


def test_last_event_id_resumes_after_the_events_seen(stream):
    server, tokens = stream
    answer = httpx.get(server.url + "/events", params={"token": tokens.issue("learner")},
                       headers={"Last-Event-ID": "2"})
    assert events_of(answer) == ["3", "4"]


def test_credentialed_cors_echoes_only_allowed_origins_never_a_star(stream):
    server, tokens = stream
    token = {"token": tokens.issue("learner")}
    allowed = httpx.get(server.url + "/events", params=token,
                        headers={"Origin": "http://localhost:1"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:1"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    other = httpx.get(server.url + "/events", params=token, headers={"Origin": "http://evil:1"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_token_in_the_url_lands_in_nginxs_access_log(stream):
    needs("nginx")
    from servers.nginx import Nginx

    server, tokens = stream
    token = tokens.issue("learner")
    with temporary_folder() as folder:
        block, log = nginx_log_location(folder)
        with Nginx(block, [f"127.0.0.1:{server.port}"], name="test-token-log") as proxy:
            assert httpx.get(proxy.url + "/events", params={"token": token}).status_code == 200
            wait_until(lambda: log.exists() and token in log.read_text(), 10, "the log line")
            lines = token_in_access_log(log.read_text(), token)
    assert len(lines) == 1 and "GET /events?token=<" in lines[0] and token not in lines[0]


def test_in_chromium_a_credentialed_eventsource_needs_an_exact_origin_and_a_fetch_reader_reconnects(
    stream,
):
    needs("chromium")
    server, tokens = stream
    target = f"http://localhost:{server.port}/events"
    pages = {"/with-credentials": eventsource_page(target, credentials=True, wanted=3),
             "/fetch-once": fetch_page(target, tokens.issue("learner"), reconnect=False),
             "/fetch-loop": fetch_page(target, tokens.issue("learner"), reconnect=True)}
    with serve(pages_app(pages), name="test-stream-pages") as site:
        state = server.app[STATE]
        state.allowed = frozenset({f"http://localhost:{site.port}"})
        urls = {path: f"http://localhost:{site.port}{path}" for path in pages}
        seen = asyncio.run(run_pages(target.replace("/events", "/login"), urls, 20_000, state,
                                     ("star", "exact")))
    star, exact = seen["star"], seen["exact"]
    assert star["/with-credentials"]["events"] == []  # the cookie went, the answer was withheld
    assert exact["/with-credentials"]["events"] == ["event 1 for learner", "event 2 for learner",
                                                    "event 3 for learner"]  # and it reconnected
    assert any(r.via == "cookie" and r.accepted for r in star["server"])  # it streamed, under *
    assert [r.last_event_id for r in exact["server"] if r.via == "cookie"] == [None, "2"]
    for cors in seen.values():
        assert cors["/fetch-once"]["connections"] == 1 and len(cors["/fetch-once"]["events"]) == 2
        assert cors["/fetch-loop"]["connections"] == 2 and len(cors["/fetch-loop"]["events"]) == 4
