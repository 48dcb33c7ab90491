"""The service's ``Idempotency-Key`` (lesson 14): a retried post is answered with the post first
taken under its key, on any backend, and is not published again; a bad key is a clear 400.

Peers: httpx as the publisher, httpx-sse reading what the channel holds, and for two backends
the service as two processes on one real Redis."""

from __future__ import annotations

import httpx
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from notify_support import login, read, texts, two_on_one_redis

from servers import serve
from servers.notify import MemoryBrokers, make_app
from servers.notify.idempotency import LONGEST, BadKey, key_of
from servers.timing import scaled

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def request_with(*values: str):
    return make_mocked_request(
        "POST", "/", headers=CIMultiDict([("Idempotency-Key", value) for value in values])
    )


@pytest.mark.parametrize(
    "value, key",
    [
        (f'"{KEY}"', KEY),
        (f'  "{KEY}" ', KEY),  # RFC 8941 section 4.2: leading and trailing SP are discarded
        (r'"a \"quoted\" \\ key"', 'a "quoted" \\ key'),
        ('"' + "k" * LONGEST + '"', "k" * LONGEST),
        (f'"{KEY}";scope=orders; v=1.5;ok=?1;b=:aGk=:;t=a/b', KEY),  # section 3.1.2: ignored
    ],
)
def test_a_key_is_an_rfc_8941_string_unquoted(value, key):
    assert key_of(request_with(value)) == key


def test_no_header_is_no_key():
    assert key_of(make_mocked_request("POST", "/")) is None


@pytest.mark.parametrize(
    "values, says",
    [
        ((KEY,), "must be a quoted string"),  # a bare token: the draft's syntax is sf-string
        (('"no end',), "must be a quoted string"),
        (('"tab\there"',), "must be a quoted string"),
        (('"é"',), "must be a quoted string"),
        ((r'"bad \n escape"',), "must be a quoted string"),
        ((f'"{KEY}";Scope=1',), "must be a quoted string"),  # parameter keys are lowercase
        ((f'"{KEY}" "again"',), "must be a quoted string"),
        (('""',), "is empty"),
        (('"' + "k" * (LONGEST + 1) + '"',), f"at most {LONGEST}"),
        ((f'"{KEY}"', '"another"'), "send one Idempotency-Key header, not 2"),
    ],
)
def test_a_bad_key_is_refused_saying_what_is_wrong(values, says):
    with pytest.raises(BadKey, match=says):
        key_of(request_with(*values))


@pytest.fixture
def url():
    with serve(make_app(brokers=MemoryBrokers()), name="test-notify-idempotency") as server:
        yield server.url


def send(url: str, token: str, text: str, key: str | None, channel: str = "broadcast"):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = f'"{key}"'
    return httpx.post(
        f"{url}/channels/{channel}/posts", json={"text": text}, headers=headers,
        timeout=scaled(10),
    )  # fmt: skip


def test_a_retry_with_the_same_key_gets_the_same_post_and_publishes_nothing(url):
    token = login(url, "alice")
    first = send(url, token, "deploy done", KEY)
    retry = send(url, token, "deploy done", KEY)
    other = send(url, token, "deploy done", "another key")
    assert first.status_code == retry.status_code == other.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert other.json()["id"] == first.json()["id"] + 1  # a new key is a new post
    assert texts(read(url, "broadcast", 2)) == [(1, "deploy done"), (2, "deploy done")]
    numbers = httpx.get(f"{url}/metrics").text
    assert "posts taken        2 " in numbers
    assert "1 retry answered from its Idempotency-Key" in numbers


def test_without_a_key_a_retry_is_a_second_post(url):
    token = login(url, "alice")
    assert [send(url, token, "hi", None).json()["id"] for _ in range(2)] == [1, 2]


def test_the_same_key_with_another_text_is_a_422_naming_the_first_post(url):
    token = login(url, "alice")
    assert send(url, token, "one", KEY).status_code == 201
    reused = send(url, token, "two", KEY)
    assert reused.status_code == 422
    assert "already used for post 1, whose text is not this one" in reused.json()["error"]
    assert texts(read(url, "broadcast", 1)) == [(1, "one")]


def test_keys_are_each_users_own_and_each_channels_own(url):
    alice, bob = login(url, "alice"), login(url, "bob")
    answers = [
        send(url, alice, "x", KEY),
        send(url, bob, "x", KEY),  # bob's key is not alice's
        send(url, alice, "x", KEY, channel="alice"),  # nor the channel's
    ]
    assert [a.json()["id"] for a in answers] == [1, 2, 1]
    assert not any("Idempotent-Replayed" in a.headers for a in answers)
    assert send(url, bob, "x", KEY).headers["Idempotent-Replayed"] == "true"


def test_a_bad_key_is_a_400_and_nothing_is_published(url):
    token = login(url, "alice")
    answer = httpx.post(
        f"{url}/channels/broadcast/posts", json={"text": "x"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": KEY},
    )  # fmt: skip
    assert answer.status_code == 400
    assert "Idempotency-Key must be a quoted string" in answer.json()["error"]
    assert send(url, token, "after", None).json()["id"] == 1


def test_a_retry_that_reaches_another_backend_on_the_same_redis_is_answered_there():
    with two_on_one_redis() as (first, second):
        token = login(first, "alice")
        taken = send(first, token, "once", KEY)
        retried = send(second, token, "once", KEY)
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json() == taken.json()
        assert send(second, token, "next", None).json()["id"] == taken.json()["id"] + 1
        assert texts(read(second, "broadcast", 2)) == [(1, "once"), (2, "next")]
        elsewhere = send(second, token, "once", KEY, channel="alice")  # one Redis, two channels
        assert "Idempotent-Replayed" not in elsewhere.headers
        assert texts(read(first, "alice", 1, token=token)) == [(1, "once")]
