"""servers.sse: the encoder, and a parser held to the WHATWG HTML standard's own examples."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_cr_then_an_lf_then_an_lf_in_three_reads_are_a_line_break_and_a_blank_line():
    parser = EventParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # the rest of the CRLF
    assert parser.feed(b"\n") == [Event("a")]  # a blank line of its own: dispatch
    assert parser.feed(b"data: b\n\n") == [Event("b")]


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


# --- held against a straightforward reading of the standard, over any stream and any split ---


def whatwg_parse(stream: bytes) -> tuple[list[Event], str, int | None]:
    """The standard's "parsing an event stream", read literally, on the whole stream at once.

    UTF-8 decode (one leading BOM stripped, errors replaced); lines end at CRLF, CR or LF,
    and what follows the last line break is not a line; each line is processed in turn.
    Returns the events dispatched, the last event ID string, and the reconnection time.
    """
    text = stream.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]
    events, data, event_type, id_buffer, last_id, retry = [], "", "", "", "", None
    for line in lines:
        if line == "":  # dispatch the event
            last_id = id_buffer
            if data == "":
                event_type = ""
                continue
            if data.endswith("\n"):
                data = data[:-1]
            events.append(Event(data, event_type or "message", last_id))
            data = event_type = ""
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line[: line.index(":")], line[line.index(":") + 1 :]
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data = data + value + "\n"
        elif field == "id":
            if "\0" not in value:
                id_buffer = value
        elif field == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    return events, last_id, retry


NAMES = st.sampled_from([b"data", b"event", b"id", b"retry", b"foo", b"", "dätä".encode()])
VALUES = st.lists(
    st.sampled_from([b"x", b" ", b":", b"42", b"\x00", b"\xff", b"\xc3", b"\xa9", "é✓".encode()])
    | st.binary(max_size=3),
    max_size=4,
).map(b"".join)
LINES = st.tuples(NAMES, st.sampled_from([b"", b":", b": "]), VALUES).map(b"".join)
ENDINGS = st.sampled_from([b"\n", b"\r", b"\r\n"])
streams = st.tuples(
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"]),
    st.lists(st.tuples(LINES | st.just(b""), ENDINGS).map(b"".join), max_size=25).map(b"".join),
    VALUES,  # an unfinished last line
).map(b"".join)
"""Event streams, BOMs, fields, comments and blank lines under every line ending, bytes that
are not UTF-8 or split characters in the values, and an unfinished last line."""


def split(stream: bytes, sizes: list[int]) -> list[bytes]:
    """``stream`` in chunks of ``sizes`` (small, so that line endings fall at chunk edges)."""
    chunks, start = [], 0
    for size in sizes:
        chunks.append(stream[start : start + size])
        start += size
    return [*chunks, stream[start:]]


@settings(max_examples=500, deadline=None)
@given(stream=streams, sizes=st.lists(st.integers(min_value=0, max_value=6), max_size=40))
def test_any_stream_split_anywhere_parses_as_the_standard_reads_it_whole(stream, sizes):
    parser, events = EventParser(), []
    for chunk in split(stream, sizes):
        events += parser.feed(chunk)
    assert (events, parser.last_event_id, parser.retry) == whatwg_parse(stream)


@settings(max_examples=200, deadline=None)
@given(stream=streams)
def test_any_stream_fed_one_byte_at_a_time_parses_as_the_standard_reads_it_whole(stream):
    parser, events = EventParser(), []
    for k in range(len(stream)):
        events += parser.feed(stream[k : k + 1])
    assert (events, parser.last_event_id, parser.retry) == whatwg_parse(stream)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: YHOO\ndata: +2\ndata: 10\n\n", [Event("YHOO\n+2\n10")]),
        (
            b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
            b"data:  third event\n\n",
            [Event("first event", "message", "1"), Event("second event"), Event(" third event")],
        ),
        (b"data\n\ndata\ndata\n\ndata:", [Event(""), Event("\n")]),
        (b"data:test\n\ndata: test\n\n", [Event("test"), Event("test")]),
    ],
)
def test_the_reading_of_the_standard_gives_the_standards_own_examples(stream, expected):
    assert whatwg_parse(stream)[0] == expected


class CountingText(str):
    """Text that counts every character copied out of it by slicing, concatenation, ``split``
    or ``partition``, and whose copies count in turn."""

    copied = 0

    @classmethod
    def _counted(cls, value: str) -> CountingText:
        cls.copied += len(value)
        return cls(value)

    def __getitem__(self, key):
        return self._counted(str.__getitem__(self, key))

    def __add__(self, other):
        return self._counted(str.__add__(self, other))

    def __radd__(self, other):
        return self._counted(str.__add__(other, self))

    def split(self, *args):
        return [self._counted(piece) for piece in str.split(self, *args)]

    def partition(self, separator):
        return tuple(self._counted(piece) for piece in str.partition(self, separator))


class CountingDecoder:
    def __init__(self) -> None:
        self.utf8 = EventParser()._decoder

    def decode(self, chunk: bytes) -> str:
        return CountingText(self.utf8.decode(chunk))


def text_held(parser: EventParser) -> int:
    """Characters the parser keeps in its attributes (strings, and lists of strings)."""
    values = vars(parser).values()
    return sum(len(v) for v in values if isinstance(v, str)) + sum(
        len(piece) for v in values if isinstance(v, list) for piece in v
    )


@pytest.mark.parametrize(
    "stream",
    [
        b"".join(encode_event(f"post {n}", id=n) for n in range(3000)),
        encode_event("\n".join(f"line {n}" for n in range(3000))),  # one event, many lines
    ],
    ids=["many events", "one long event"],
)
def test_one_big_chunk_is_parsed_with_each_character_copied_a_bounded_number_of_times(stream):
    parser = EventParser()
    parser._decoder = CountingDecoder()  # instrumented: every text the parser gets counts copies
    held = []
    line = parser._line
    parser._line = lambda text: held.append(text_held(parser)) or line(text)
    assert parser.feed(b": warm-up\n") == []
    CountingText.copied = 0
    events = parser.feed(stream)
    assert events == parse(stream)[0] and events
    # a quadratic parser copies the rest of the chunk, or the event's data so far, per line
    assert CountingText.copied <= 4 * len(stream)
    longest_event = max(len(event.data) for event in events)
    assert max(held) < longest_event + 200  # only the line at hand and the event so far


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
