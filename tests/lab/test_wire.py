"""lab.wire: one HTTP exchange as exact bytes, and a header read out of them."""

from __future__ import annotations

import json

from lab.wire import header, http_exchange

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"date:Tue, 01 Dec 2026 10:58:48 GMT\r\n"
    b'ETag:  "3"  \r\n'
    b"\r\n"
    b"X-Not-A-Header: in the body\r\n"
)


def test_a_request_written_with_newlines_goes_out_with_crlf_and_a_blank_line(feed, feed_server):
    feed.publish("on the wire")
    request = f"GET /posts?since=0 HTTP/1.1\nHost: {feed_server.host}\nConnection: close\n"
    sent, received = http_exchange(feed_server.host, feed_server.port, request)
    assert (
        sent
        == (
            f"GET /posts?since=0 HTTP/1.1\r\nHost: {feed_server.host}\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert [post["text"] for post in json.loads(body)] == ["on the wire"]  # read to the end
    assert header(received, "Content-Length") == str(len(body))


def test_a_header_is_found_whatever_its_case_and_spacing():
    assert header(RESPONSE, "content-type") == "application/json"
    assert header(RESPONSE, "Date") == "Tue, 01 Dec 2026 10:58:48 GMT"  # colons in the value
    assert header(RESPONSE, "etag") == '"3"'


def test_a_header_that_is_absent_or_only_in_the_body_or_start_line_is_none():
    assert header(RESPONSE, "X-Not-A-Header") is None
    assert header(RESPONSE, "Last-Event-ID") is None
    assert header(RESPONSE, "HTTP/1.1 200 OK") is None
    assert header(b"GET / HTTP/1.1\r\n\r\n", "Host") is None
