"""Checks for exercise 03: an SSE encoder and parser, held to the HTML standard's examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.checks.core import call, expect, fail, learner_line, not_written, passed, short
from servers.sse import EventParser

ENCODE_CASES = [
    ({"data": "hello"}, "one line"),
    ({"data": "first line\nsecond line"}, "two lines of data"),
    ({"data": "windows\r\nline ends\rand old mac ones"}, "CRLF and CR inside data"),
    ({"data": ""}, "empty data, which still needs its `data:` line"),
    ({"data": '{"id": 7}', "event": "post", "id": "7"}, "an event type and an id"),
    ({"data": "  two leading spaces"}, "data that starts with spaces"),
    ({"data": "ends with a newline\n"}, "data ending in a newline"),
    ({"data": "a\u2028b"}, "U+2028, which is not a line break in SSE"),
]

SPLIT_HINT = 'split lines on "\\r\\n", "\\r" and "\\n" only, e.g. re.split(r"\\r\\n|\\r|\\n", text)'
PARSE_CASES = [
    (
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [("message", "YHOO\n+2\n10", "")],
        "the standard's stock-ticker example: data lines join with a newline",
        'append each data value plus "\\n", drop the final "\\n" when dispatching, and give an '
        'event with no `event:` line the type "message".',
    ),
    (
        b"data:test\n\ndata: test\n\n",
        [("message", "test", ""), ("message", "test", "")],
        "the standard's fourth example: the space after the colon is optional",
        "remove one space after the colon only if it is there.",
    ),
    (
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [
            ("message", "first event", "1"),
            ("message", "second event", ""),
            ("message", " third event", ""),
        ],
        "the standard's second example: comments, ids, an empty id, one space removed",
        'drop exactly one leading space from a value; a bare `id` line sets the id to "".',
    ),
    (
        b"data\n\ndata\ndata\n\ndata:",
        [("message", "", ""), ("message", "\n", "")],
        "the standard's third example: a field with no colon, and a last block with no blank "
        "line, which is never dispatched",
        'a line without a colon is a field with an empty value; remove only the one final "\\n" '
        "of the data; dispatch on a blank line only.",
    ),
    (
        b"data: x\n\ndata: never finished\n",
        [("message", "x", "")],
        "an event with no blank line after it when the stream ends is discarded, not dispatched",
        "dispatch at a blank line only: at the end of the stream, drop what is left unfinished.",
    ),
    (
        b'data: {"id": 7}\ndata: http://example.com/\n\n',
        [("message", '{"id": 7}\nhttp://example.com/', "")],
        "a value may contain colons: only the first colon of a line ends the field name",
        'split each line at its first colon only: field, _, value = line.partition(":").',
    ),
    (
        b"event: add\r\ndata: 1\r\n\r\nevent: remove\rdata: 2\r\r",
        [("add", "1", ""), ("remove", "2", "")],
        "CRLF and CR line ends, and event types",
        SPLIT_HINT,
    ),
    (
        b"data: 1\r\n\ndata: 2\r\n\n",
        [("message", "1", ""), ("message", "2", "")],
        'a "\\n" right after a "\\r\\n" is an empty line of its own, which dispatches',
        'after skipping the "\\n" of a "\\r\\n", forget the "\\r"; or ' + SPLIT_HINT,
    ),
    (
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [("message", "a", "1"), ("message", "b", "1")],
        "the last event id persists to later events until an id line changes it",
        "keep the last id across dispatches; do not reset it after each event.",
    ),
    (
        b"id: 5\n\ndata: after\n\n",
        [("message", "after", "5")],
        "an event with no data is not dispatched, but its id is kept",
        "an `id:` line sets the last event id at once, whether or not an event is dispatched.",
    ),
    (
        b"event: ping\n\ndata: x\n\n",
        [("message", "x", "")],
        "the event type is cleared at every blank line, even when nothing is dispatched",
        "on every blank line, clear the data buffer and the event type.",
    ),
    (
        b"event:\ndata: x\n\n",
        [("message", "x", "")],
        'an empty `event:` value dispatches as type "message"',
        'an empty event type means "message": dispatch with kind or "message".',
    ),
    (
        b"data: a\n: keep-alive\ndata: b\n\n",
        [("message", "a\nb", "")],
        "a comment inside an event neither ends the event nor adds to its data",
        'skip a line that starts with ":" and carry on building the same event.',
    ),
    (
        b"retry: 1000\nretry: soon\nfoo: bar\ndata: x\n\n",
        [("message", "x", "")],
        "other fields (retry, an unknown foo) are ignored, whatever their value",
        "ignore every field but data, event and id (a browser uses retry only when it is all "
        "digits).",
    ),
    (
        "data: a\u2028b\x85c\n\n".encode(),
        [("message", "a\u2028b\x85c", "")],
        "only CR and LF end lines: U+2028 and U+0085 are ordinary characters",
        SPLIT_HINT + ", not str.splitlines(), which also splits on them",
    ),
    (
        "\ufeffdata: bom\n\ndata: \ufeffkept\n\n".encode(),
        [("message", "bom", ""), ("message", "\ufeffkept", "")],
        "a byte-order mark is dropped at the very start of the stream only",
        'remove one "\\ufeff" at the start of the decoded stream (str.removeprefix), no other.',
    ),
    (
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [("message", "a", "1"), ("message", "b", "1")],
        "an id containing NULL is ignored",
        'ignore an id value that contains "\\0".',
    ),
    (
        b"data: \xff\n\n",
        [("message", "\ufffd", "")],
        "invalid UTF-8 becomes U+FFFD (the replacement character), the stream goes on",
        'decode with stream.decode("utf-8", errors="replace"), as the standard does.',
    ),
]


def check_03_encode(encode: Callable[..., Any]) -> None:
    """Exercise 03.1: ``encode(data, event=None, id=None)`` returns the bytes of one event."""
    for kwargs, what in ENCODE_CASES:
        raw = call("03.1", encode, **kwargs)
        expect(
            isinstance(raw, bytes),
            "03.1",
            f"encode({_args(kwargs)}) returned {type(raw).__name__}; expected bytes.",
            'build a str, then return text.encode("utf-8").',
        )
        expect(
            raw.endswith(b"\n\n") or not raw.strip(),  # nothing but line ends: see below
            "03.1",
            f"encode({_args(kwargs)}) gave {short(raw)}: an event must end with a blank line.",
            'end with "\\n\\n": the empty line is what makes a client dispatch the event.',
        )
        events = EventParser().feed(raw)
        want = (kwargs.get("event") or "message", _folded(kwargs["data"]), kwargs.get("id") or "")
        got = [(e.type, e.data, e.last_event_id) for e in events]
        expect(
            got == [want],
            "03.1",
            f"{what}: encode({_args(kwargs)}) gave {short(raw)}, which a browser reads as "
            f"{got}; expected {[want]}.",
            "one `data: ` line per line of data (split on \\r\\n, \\r and \\n), each ending "
            'in "\\n"; `event: ` and `id: ` lines before them.',
        )
    for bad in [{"data": "x", "event": "two\nlines"}, {"data": "x", "id": "1\r2"}]:
        try:
            raw = encode(**bad)
        except ValueError:
            continue
        except Exception as error:
            raise fail(
                "03.1",
                f"encode({_args(bad)}) raised {type(error).__name__}: {error}; a caller expects "
                "ValueError, the exception for a value of the right type that is not allowed.",
                "raise ValueError(...) when event or id contains \\r or \\n.",
            ) from None
        raise fail(
            "03.1",
            f"encode({_args(bad)}) returned {short(raw)}: a line break inside an event type or "
            "id would end that field early and corrupt the stream.",
            "raise ValueError when event or id contains \\r or \\n.",
        )
    passed("03.1", f"{len(ENCODE_CASES)} events framed so that a browser reads them back exactly.")


def check_03_parse(parse: Callable[[bytes], Any]) -> None:
    """Exercise 03.2: ``parse(stream)`` returns ``[(type, data, last_event_id), ...]``."""
    for stream, want, what, hint in PARSE_CASES:
        case = f"{what}.\nStream: {short(stream, 200)}\n"
        try:
            got = parse(stream)
        except NotImplementedError:
            raise not_written("03.2", "parse") from None
        except Exception as error:
            where = learner_line(error, "parse")
            crash = f"parse raised {type(error).__name__}: {error}\n{where}".rstrip()
            raise fail("03.2", case + crash, hint) from None
        got = [tuple(event) for event in got] if isinstance(got, list) else got
        expect(got == want, "03.2", f"{case}Expected: {want}\nGot:      {short(got, 200)}", hint)
    passed("03.2", f"all {len(PARSE_CASES)} streams parsed as a browser parses them.")


def _folded(data: str) -> str:
    return data.replace("\r\n", "\n").replace("\r", "\n")


def _args(kwargs: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
