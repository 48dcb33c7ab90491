"""servers.feed: the Feed and its HTTP routes (POST /posts, GET /posts?since=ID)."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from support import wait_until

from servers import runtime
from servers.feed import DEFAULT_WAIT, MAX_WAIT, Feed
from servers.polling import parse_timeout


def test_posts_get_rising_ids_from_1_and_the_server_time():
    feed = Feed()
    first, second = feed.publish("a"), feed.publish("b")
    assert (first["id"], second["id"]) == (1, 2)
    assert first["ts"] <= second["ts"]
    assert feed.since(0) == [first, second]
    assert feed.since(1) == [second]
    assert feed.last_id == 2


def test_history_is_bounded_to_the_newest_posts():
    feed = Feed(history=3)
    for n in range(10):
        feed.publish(f"post {n}")
    assert [p["id"] for p in feed.since(0)] == [8, 9, 10]
    assert len(feed) == 3


def test_publish_from_many_threads_gives_every_post_one_unique_id():
    feed = Feed(history=10_000)

    def publish_many(thread):
        for n in range(500):
            feed.publish(f"{thread}-{n}")

    threads = [threading.Thread(target=publish_many, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [p["id"] for p in feed.since(0)]
    assert ids == list(range(1, 4001))
    assert len({p["text"] for p in feed.since(0)}) == 4000


def test_returned_posts_are_copies_that_cannot_change_the_history():
    feed = Feed()
    feed.publish("original")["text"] = "changed"
    feed.since(0)[0]["text"] = "changed"
    assert feed.since(0)[0]["text"] == "original"


@pytest.mark.parametrize(
    ("text", "reason"),
    [(None, "must be a string"), ("", "is empty"), ("   ", "is empty"), ("x" * 1001, "limit")],
)
def test_publish_refuses_bad_text_and_says_why(text, reason):
    feed = Feed()
    with pytest.raises(ValueError, match=reason):
        feed.publish(text)
    assert len(feed) == 0


def test_post_publishes_and_answers_201_with_the_post(feed_server, feed):
    response = httpx.post(feed_server.url + "/posts", json={"text": "hello"})
    assert response.status_code == 201
    assert response.json() == feed.since(0)[0]
    assert response.json()["text"] == "hello"


def test_get_since_returns_the_newer_posts_oldest_first(feed_server, feed):
    for text in ["a", "b", "c"]:
        feed.publish(text)
    texts = lambda query: [p["text"] for p in httpx.get(feed_server.url + query).json()]  # noqa: E731
    assert texts("/posts") == ["a", "b", "c"]
    assert texts("/posts?since=1") == ["b", "c"]
    assert texts("/posts?since=3") == []


def test_a_since_ahead_of_the_newest_post_is_refused_as_another_feed(feed_server, feed):
    feed.publish("only post")
    for route in ["/posts", "/posts/wait"]:
        response = httpx.get(feed_server.url + route, params={"since": 99, "timeout": 0})
        assert response.status_code == 400
        assert "was the server restarted?" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{broken", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", 'JSON object with a "text" field'),
        (b'{"title": "no text"}', 'JSON object with a "text" field'),
        (b'{"text": 42}', "must be a string"),
        (b'{"text": ""}', "is empty"),
        (b'{"text": "' + b"x" * 1001 + b'"}', "the limit is 1000"),
        (b"\xff\xfe\x00", "not"),
    ],
)
def test_bad_posts_get_a_400_that_says_what_was_wrong_and_publish_nothing(
    feed_server, feed, body, says
):
    response = httpx.post(feed_server.url + "/posts", content=body)
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert len(feed) == 0
    assert httpx.post(feed_server.url + "/posts", json={"text": "still up"}).status_code == 201


@pytest.mark.parametrize(
    ("query", "says"), [("abc", "got 'abc'"), ("1.5", "whole number"), ("-1", "0 or more")]
)
def test_a_bad_since_gets_a_400_that_says_what_was_wrong(feed_server, query, says):
    response = httpx.get(feed_server.url + "/posts", params={"since": query})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert says in response.json()["error"]
    assert httpx.get(feed_server.url + "/posts").status_code == 200


def test_get_carries_an_etag_and_a_matching_if_none_match_gets_an_empty_304(feed_server, feed):
    feed.publish("a")
    first = httpx.get(feed_server.url + "/posts")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = httpx.get(feed_server.url + "/posts", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    for header in [f'"other", {etag}', f"W/{etag}", "*"]:
        assert (
            httpx.get(feed_server.url + "/posts", headers={"If-None-Match": header}).status_code
            == 304
        )
    feed.publish("b")
    changed = httpx.get(feed_server.url + "/posts", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert [p["text"] for p in changed.json()] == ["a", "b"]


def test_the_etag_changes_when_old_posts_leave_the_bounded_history():
    feed = Feed(history=2)
    for text in "abc":
        feed.publish(text)
    _, before = feed.read(0)
    feed.publish("d")
    posts, after = feed.read(0)
    assert before != after
    assert [p["text"] for p in posts] == ["c", "d"]


def test_long_poll_answers_at_once_when_newer_posts_exist(feed_server, feed):
    feed.publish("already there")
    response = httpx.get(feed_server.url + "/posts/wait", params={"since": 0, "timeout": 30})
    assert response.status_code == 200
    assert [p["text"] for p in response.json()] == ["already there"]


def test_long_poll_answers_204_when_the_timeout_runs_out(feed_server, feed):
    response = httpx.get(feed_server.url + "/posts/wait", params={"since": 0, "timeout": 0.05})
    assert (response.status_code, response.content) == (204, b"")
    assert feed.waiting == 0


def test_long_poll_is_answered_by_a_post_published_from_another_thread(feed_server, feed):
    with httpx.Client() as client:
        parked = threading.Thread(
            target=lambda: results.append(
                client.get(feed_server.url + "/posts/wait", params={"since": 0, "timeout": 30})
            )
        )
        results = []
        parked.start()
        wait_until(lambda: feed.waiting == 1)
        feed.publish("wake up")
        parked.join(timeout=10)
    assert [p["text"] for p in results[0].json()] == ["wake up"]
    assert feed.waiting == 0


def test_a_client_that_disconnects_while_waiting_leaves_nothing_behind(feed_server, feed):
    before = set(runtime.pending_tasks())
    sockets = []
    for _ in range(5):
        sock = socket.create_connection((feed_server.host, feed_server.port))
        sock.sendall(b"GET /posts/wait?since=0&timeout=30 HTTP/1.1\r\nHost: test\r\n\r\n")
        sockets.append(sock)
    wait_until(lambda: feed.waiting == 5)
    for sock in sockets:
        sock.close()
    wait_until(lambda: feed.waiting == 0)
    assert set(runtime.pending_tasks()) - before == set()


@pytest.mark.parametrize(
    ("timeout", "says"), [("soon", "number of seconds"), ("-1", "0 or more"), ("nan", "0 or more")]
)
def test_a_bad_timeout_gets_a_400_that_says_what_was_wrong(feed_server, timeout, says):
    response = httpx.get(feed_server.url + "/posts/wait", params={"timeout": timeout})
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_long_poll_timeouts_are_clamped_to_the_documented_maximum():
    assert parse_timeout(None) == DEFAULT_WAIT
    assert parse_timeout("3600") == MAX_WAIT == 30
    assert parse_timeout("0.5") == 0.5


def test_unknown_routes_and_methods_answer_json_errors(feed_server):
    missing = httpx.get(feed_server.url + "/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "no route for /nope"})
    wrong = httpx.delete(feed_server.url + "/posts")
    assert wrong.status_code == 405
    assert "DELETE is not allowed" in wrong.json()["error"]
    assert "POST" in wrong.headers["allow"]


def test_answers_carry_cors_headers_and_the_post_preflight_is_answered(feed_server):
    got = httpx.get(feed_server.url + "/posts", headers={"Origin": "http://localhost:8888"})
    assert got.headers["access-control-allow-origin"] == "*"
    error = httpx.get(feed_server.url + "/posts?since=x")
    assert error.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(
        feed_server.url + "/posts",
        headers={
            "Origin": "http://localhost:8888",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["access-control-allow-origin"] == "*"


def test_an_app_can_hold_long_polls_for_less_than_the_maximum(feed):
    from servers import serve
    from servers.feed import make_app

    with serve(make_app(feed, max_wait=0.05)) as server:
        response = httpx.get(server.url + "/posts/wait", params={"timeout": 30}, timeout=5)
    assert response.status_code == 204


def _imports(module) -> set[str]:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    return names | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_the_feed_model_knows_no_http_and_the_routes_know_only_the_model():
    import servers.feed.model
    from servers import events, polling, ws

    model_imports = _imports(servers.feed.model)
    assert not [m for m in model_imports if m.startswith(("aiohttp", "servers"))]
    for route_module in (events, polling, ws):
        feed_imports = {m for m in _imports(route_module) if m.startswith("servers.feed")}
        assert feed_imports == {"servers.feed.model"}, route_module.__name__
