"""lab.checks, exercise 01: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import pytest

from lab import checks


def good_conditional_get(client, url, etag):
    response = client.get(url, headers={"If-None-Match": etag} if etag else {})
    if response.status_code == 304:
        return 304, None, etag
    return 200, response.json(), response.headers["ETag"]


def never_conditional(client, url, etag):
    response = client.get(url)
    return response.status_code, response.json(), response.headers["ETag"]


def parses_every_body(client, url, etag):
    response = client.get(url, headers={"If-None-Match": etag} if etag else {})
    return response.status_code, response.json(), response.headers["ETag"]


@pytest.mark.parametrize(
    ("conditional_get", "says"),
    [
        (never_conditional, "the request carried If-None-Match: None"),
        (parses_every_body, "raised JSONDecodeError"),
        (lambda client, url, etag: client.get(url).json(), "expected a tuple"),
        (
            lambda client, url, etag: good_conditional_get(client, url, etag)[:2] + ("x",),
            "the server's ETag header was",
        ),
    ],
)
def test_a_wrong_conditional_get_gets_a_message_naming_the_mistake(conditional_get, says):
    with pytest.raises(checks.CheckFailed, match="exercise 01.1") as failure:
        checks.check_01_conditional_get(conditional_get)
    assert says in str(failure.value)


def test_a_right_conditional_get_passes(capsys):
    checks.check_01_conditional_get(good_conditional_get)
    assert "✔ exercise 01.1" in capsys.readouterr().out


def counting_poller(send_etag=True, count_bytes=True):
    def poll_and_count(client, url, polls):
        etag, body, counts = None, 0, {"requests": 0, "not_modified": 0, "bytes_saved": 0}
        for _ in range(polls):
            response = client.get(url, headers={"If-None-Match": etag} if etag else {})
            counts["requests"] += 1
            if response.status_code == 304:
                counts["not_modified"] += 1
                counts["bytes_saved"] += body if count_bytes else 0
            else:
                body = len(response.content)
                etag = response.headers["ETag"] if send_etag else None
        return counts

    return poll_and_count


@pytest.mark.parametrize(
    ("poll_and_count", "says"),
    [
        (counting_poller(send_etag=False), "expected none on the first request and the ETag"),
        (counting_poller(count_bytes=False), "each 304 saved the"),
    ],
)
def test_a_wrong_poll_and_count_gets_a_message_naming_the_mistake(poll_and_count, says):
    with pytest.raises(checks.CheckFailed, match="exercise 01.2") as failure:
        checks.check_01_poll_and_count(poll_and_count)
    assert says in str(failure.value)


def test_a_right_poll_and_count_passes(capsys):
    checks.check_01_poll_and_count(counting_poller())
    assert "✔ exercise 01.2" in capsys.readouterr().out


def test_parsing_the_body_of_a_304_gets_a_pointed_hint():
    def conditional_get(client, url, etag):
        response = client.get(url, headers={"If-None-Match": etag} if etag else {})
        return response.status_code, response.json(), response.headers["ETag"]

    with pytest.raises(checks.CheckFailed, match="A 204 or 304 answer has no body"):
        checks.check_01_conditional_get(conditional_get)


def test_raise_for_status_on_a_304_gets_a_pointed_hint():
    def conditional_get(client, url, etag):
        response = client.get(url, headers={"If-None-Match": etag} if etag else {})
        response.raise_for_status()
        return 200, response.json(), response.headers["ETag"]

    with pytest.raises(checks.CheckFailed, match="raises on every 3xx status too, 304"):
        checks.check_01_conditional_get(conditional_get)
