"""Who may read what in the notification service (lesson 14): login, the cookie, refusals.

Each refusal is a JSON ``{"error": why}`` with 401 (who are you?) or 403 (not yours).
"""

from __future__ import annotations

import httpx
import pytest
from httpx_sse import connect_sse
from notify_support import login, read, texts

from servers import serve
from servers.notify import Signer, make_app
from servers.notify.auth import COOKIE, Refused
from servers.timing import scaled


@pytest.fixture
def service():
    with serve(
        make_app(passwords={"alice": "a-pass", "bob": "b-pass"}), name="test-notify-auth"
    ) as server:
        yield server.url


def events_answer(url: str, channel: str, **headers: str) -> httpx.Response:
    """The answer to ``GET /channels/{channel}/events`` when it is not a stream."""
    with httpx.stream(
        "GET", f"{url}/channels/{channel}/events", headers=headers, timeout=scaled(10)
    ) as answer:
        assert answer.status_code != 200, f"{channel!r} was streamed to a reader it must refuse"
        answer.read()
        return answer


def test_login_issues_a_short_lived_token_and_an_httponly_samesite_session_cookie(service):
    answer = httpx.post(f"{service}/login", json={"user": "alice", "password": "a-pass"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user"] == "alice" and body["token"] and body["ttl"] == 300
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={body['token']};")
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= set(attributes), cookie
    assert "Strict" in attributes["samesite"] and "300" in attributes["max-age"]


def test_a_wrong_password_or_an_unknown_user_is_refused_with_one_reason(service):
    for body in ({"user": "alice", "password": "b-pass"}, {"user": "carol", "password": "x"}):
        answer = httpx.post(f"{service}/login", json=body)
        assert answer.status_code == 401
        assert answer.json() == {"error": "unknown user or wrong password"}


def test_the_session_cookie_alone_lets_its_user_read_her_channel(service):
    token = login(service, "alice", password="a-pass")
    httpx.post(
        f"{service}/channels/alice/posts",
        json={"text": "hello"},
        cookies={COOKIE: token},
        timeout=scaled(10),
    ).raise_for_status()
    with (
        httpx.Client(cookies={COOKIE: token}, timeout=scaled(10)) as client,
        connect_sse(
            client, "GET", f"{service}/channels/alice/events", headers={"Last-Event-ID": "0"}
        ) as source,
    ):
        first = next(e for e in source.iter_sse() if e.data)
    assert first.id == "1" and "hello" in first.data


@pytest.mark.parametrize(
    "headers, says",
    [
        ({}, "no credentials: log in with POST /login"),
        ({"Authorization": "Basic YWxpY2U6YS1wYXNz"}, 'Authorization must be "Bearer TOKEN"'),
        ({"Authorization": "Bearer nonsense"}, "malformed token"),
        ({"Cookie": f"{COOKIE}=e30.forged"}, "bad token signature"),
    ],
)
def test_a_private_channel_refuses_a_reader_without_a_valid_token_with_401_and_why(
    service, headers, says
):
    answer = events_answer(service, "alice", **headers)
    assert answer.status_code == 401
    assert answer.json()["error"].startswith(says), answer.json()


def test_a_token_altered_to_name_another_user_is_refused(service):
    payload, _, signature = login(service, "bob", password="b-pass").partition(".")
    forged_payload = Signer(b"another key").issue("alice")[0].partition(".")[0]
    answer = events_answer(service, "alice", Authorization=f"Bearer {forged_payload}.{signature}")
    assert answer.status_code == 401 and "bad token signature" in answer.json()["error"]


def test_another_users_channel_is_refused_with_403_naming_its_owner(service):
    bob = login(service, "bob", password="b-pass")
    answer = events_answer(service, "alice", Authorization=f"Bearer {bob}")
    assert answer.status_code == 403
    assert answer.json() == {"error": "channel 'alice' is alice's; you are bob"}


def test_posting_needs_a_login(service):
    answer = httpx.post(f"{service}/channels/broadcast/posts", json={"text": "hi"})
    assert answer.status_code == 401 and "no credentials" in answer.json()["error"]


def test_the_broadcast_channel_is_read_without_a_login(service):
    token = login(service, "alice", password="a-pass")
    httpx.post(
        f"{service}/channels/broadcast/posts", json={"text": "to all"}, cookies={COOKIE: token}
    ).raise_for_status()
    assert texts(read(service, "broadcast", 1)) == [(1, "to all")]


def test_an_expired_token_is_refused_saying_so():
    now = [1000.0]
    signer = Signer(ttl=60, clock=lambda: now[0])
    token, expires = signer.issue("alice")
    assert signer.verify(token) == "alice" and expires == 1060
    now[0] = 1060.0
    with pytest.raises(Refused, match="token expired") as refused:
        signer.verify(token)
    assert refused.value.status == 401
