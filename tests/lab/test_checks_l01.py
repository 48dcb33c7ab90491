"""lab.checks, exercise 01: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import pytest
from checks_support import assert_named, assert_passes, failure_of

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


def forgets_its_etag_on_a_304(client, url, etag):
    status, posts, new_etag = good_conditional_get(client, url, etag)
    return status, posts, None if status == 304 else new_etag


def strips_the_quotes(client, url, etag):
    quoted = f'"{etag}"' if etag else None
    status, posts, new_etag = good_conditional_get(client, url, quoted)
    return status, posts, new_etag.strip('"')


def keeps_the_etag_it_was_given(client, url, etag):
    status, posts, new_etag = good_conditional_get(client, url, etag)
    return status, posts, etag or new_etag


@pytest.mark.parametrize(
    ("conditional_get", "says"),
    [
        (forgets_its_etag_on_a_304, "keep the etag you had"),
        (strips_the_quotes, "quotes included"),
        (keeps_the_etag_it_was_given, "and a new etag"),
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
    assert_named(checks.check_01_conditional_get, conditional_get, exercise="01.1", says=says)


def test_a_right_conditional_get_passes(capsys):
    assert_passes(
        checks.check_01_conditional_get, good_conditional_get, exercise="01.1", capsys=capsys
    )


def counting_poller(send_etag=True, count_bytes=True, refresh_etag=True, refresh_body=True):
    """A poll_and_count with the chosen mistakes: ``refresh_etag=False`` keeps the first
    ETag for good, ``refresh_body=False`` the size of the first body."""

    def poll_and_count(client, url, polls):
        etag, body, counts = None, 0, {"requests": 0, "not_modified": 0, "bytes_saved": 0}
        for _ in range(polls):
            response = client.get(url, headers={"If-None-Match": etag} if etag else {})
            counts["requests"] += 1
            if response.status_code == 304:
                counts["not_modified"] += 1
                counts["bytes_saved"] += body if count_bytes else 0
            else:
                body = len(response.content) if refresh_body or not body else body
                if send_etag and (refresh_etag or etag is None):
                    etag = response.headers["ETag"]
        return counts

    return poll_and_count


@pytest.mark.parametrize(
    ("poll_and_count", "says"),
    [
        (counting_poller(send_etag=False), "expected none on the first request and the ETag"),
        (counting_poller(count_bytes=False), "each 304 saved the"),
        (counting_poller(refresh_etag=False), "the 4th and 5th should carry the new one"),
        (counting_poller(refresh_body=False), "the body after the new post"),
    ],
)
def test_a_wrong_poll_and_count_gets_a_message_naming_the_mistake(poll_and_count, says):
    assert_named(checks.check_01_poll_and_count, poll_and_count, exercise="01.2", says=says)


def test_a_right_poll_and_count_passes(capsys):
    assert_passes(checks.check_01_poll_and_count, counting_poller(), exercise="01.2", capsys=capsys)


def test_parsing_the_body_of_a_304_gets_a_pointed_hint():
    no_body = "A 204 or 304 answer has no body"
    failure_of(checks.check_01_conditional_get, parses_every_body, match=no_body)


def test_raise_for_status_on_a_304_gets_a_pointed_hint():
    def conditional_get(client, url, etag):
        response = client.get(url, headers={"If-None-Match": etag} if etag else {})
        response.raise_for_status()
        return 200, response.json(), response.headers["ETag"]

    too = "raises on every 3xx status too, 304"
    failure_of(checks.check_01_conditional_get, conditional_get, match=too)
