"""servers.sse: the encoder, and a parser held to the WHATWG HTML standard's own examples."""

from __future__ import annotations

import pytest

from servers.sse import Event, EventParser, encode_comment, encode_event


def parse(stream: bytes, *, chunk: int | None = None) -> tuple[list[Event], EventParser]:
    parser = EventParser()
    events = []
    step = chunk or len(stream) or 1
    for start in range(0, len(stream), step):
        events += parser.feed(stream[start : start + step])
    return events, parser


# --- the standard's examples (HTML, "Server-sent events", section "Parsing an event stream") ---


def test_standard_example_stock_ticker_lines_join_with_newlines():
    events, _ = parse(b"data: YHOO\ndata: +2\ndata: 10\n\n")
    assert events == [Event("YHOO\n+2\n10")]


def test_standard_example_comments_ids_and_a_value_keeping_its_second_space():
    stream = (
        b": test stream\n\n"
        b"data: first event\nid: 1\n\n"
        b"data:second event\nid\n\n"
        b"data:  third event\n\n"
    )
    events, parser = parse(stream)
    assert events == [
        Event("first event", last_event_id="1"),
        Event("second event", last_event_id=""),
        Event(" third event", last_event_id=""),
    ]
    assert parser.last_event_id == ""


def test_standard_example_empty_data_and_a_lone_newline_and_a_discarded_last_block():
    events, _ = parse(b"data\n\ndata\ndata\n\ndata:")
    assert events == [Event(""), Event("\n")]


def test_standard_example_one_space_after_the_colon_is_optional():
    events, _ = parse(b"data:test\n\ndata: test\n\n")
    assert events == [Event("test"), Event("test")]


# --- the parsing rules one by one -------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_lines_may_end_with_lf_cr_or_crlf(newline):
    stream = newline.join([b"event: add", b"data: 1", b"data: 2", b"", b""])
    events, _ = parse(stream)
    assert events == [Event("1\n2", type="add")]


def test_a_crlf_split_across_two_chunks_is_one_line_break_not_two():
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n\r") == [Event("a\nb")]
    assert parser.feed(b"\n") == []  # the LF of the CRLF above, not a second blank line


def test_a_lone_cr_at_a_chunk_end_is_still_a_line_break():
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\r") == [Event("a")]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_any_chunking_gives_the_same_events(size):
    stream = "\ufeffid: 7\r\nevent: café\r\ndata: ünïcode ✓\r\n\r\n: ping\r\rdata: x\n\n".encode()
    assert parse(stream, chunk=size)[0] == parse(stream)[0]
    assert parse(stream)[0] == [Event("ünïcode ✓", "café", "7"), Event("x", "message", "7")]


def test_one_leading_bom_is_dropped_even_split_but_a_second_one_is_kept():
    stream = "\ufeff\ufeffdata: x\n\n".encode()
    events, _ = parse(stream, chunk=1)
    assert events == []  # the line's field name is "\ufeffdata", which is ignored
    events, _ = parse("\ufeffdata: x\n\n".encode(), chunk=1)
    assert events == [Event("x")]


def test_invalid_utf8_is_replaced_not_fatal():
    events, _ = parse(b"data: \xff\xfe ok\n\n")
    assert events == [Event("\ufffd\ufffd ok")]


def test_a_field_without_a_colon_has_an_empty_value_and_unknown_fields_are_ignored():
    events, _ = parse(b"data\nfoo: bar\nevent\n\n")
    assert events == [Event("")]


def test_an_id_containing_null_is_ignored():
    events, parser = parse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.last_event_id for e in events] == ["1", "1"]
    assert parser.last_event_id == "1"


@pytest.mark.parametrize(
    ("line", "retry"),
    [
        (b"retry: 3000", 3000),
        (b"retry: 3s", None),
        (b"retry: -1", None),
        (b"retry:", None),
        (b"retry: 1.5", None),
        ("retry: ３".encode(), None),
    ],
)
def test_retry_is_taken_only_when_all_ascii_digits(line, retry):
    _, parser = parse(line + b"\n\n")
    assert parser.retry == retry


def test_an_event_without_data_is_not_dispatched_but_its_id_is_kept():
    events, parser = parse(b"id: 41\nevent: ping\n\ndata: next\n\n")
    assert events == [Event("next", "message", "41")]
    assert parser.last_event_id == "41"


def test_the_event_type_resets_after_each_dispatch():
    events, _ = parse(b"event: add\ndata: 1\n\ndata: 2\n\n")
    assert [e.type for e in events] == ["add", "message"]


def test_an_unfinished_event_at_the_end_of_the_stream_is_not_dispatched():
    events, parser = parse(b"id: 9\ndata: half")
    assert events == [] and parser.last_event_id == ""


# --- the encoder ------------------------------------------------------------------------------


def test_an_event_is_framed_with_its_fields_and_a_blank_line():
    assert encode_event("hello", event="news", id=7, retry=2000) == (
        b"event: news\nid: 7\nretry: 2000\ndata: hello\n\n"
    )


def test_multi_line_data_becomes_one_data_line_per_line_with_cr_and_crlf_folded():
    assert encode_event("a\r\nb\rc\n\nd") == b"data: a\ndata: b\ndata: c\ndata:\ndata: d\n\n"


@pytest.mark.parametrize(
    "data", ["", "x", "two\nlines", "  leading spaces", "trailing newline\n", "ünï ✓", ":colon"]
)
def test_whatever_is_encoded_parses_back_the_same(data):
    events, parser = parse(encode_event(data, event="t", id="abc", retry=5))
    assert events == [Event(data, "t", "abc")]
    assert parser.retry == 5


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"event": "a\nb"}, "event cannot contain a line break"),
        ({"id": "1\r2"}, "id cannot contain a line break"),
        ({"id": "1\x002"}, "id cannot contain NULL"),
        ({"retry": -5}, "retry must be"),
        ({"retry": 1.5}, "retry must be"),
    ],
)
def test_fields_that_cannot_be_framed_are_refused(kwargs, says):
    with pytest.raises(ValueError, match=says):
        encode_event("x", **kwargs)


def test_data_must_be_text():
    with pytest.raises(TypeError, match="data must be a str"):
        encode_event(b"bytes")


def test_comments_are_ignored_by_the_parser():
    assert encode_comment() == b":\n\n"
    assert encode_comment("heartbeat") == b": heartbeat\n\n"
    assert parse(encode_comment("heartbeat") + encode_event("x"))[0] == [Event("x")]


def test_a_parser_for_a_reconnection_keeps_the_id_it_started_with():
    parser = EventParser(last_event_id="41")
    assert parser.feed(b"retry: 500\n\n: heartbeat\n\n") == []
    assert parser.last_event_id == "41"
    assert parser.feed(b"data: next\n\n") == [Event("next", last_event_id="41")]
