"""Exercise 03's checks: the reference encoder and parser pass; each likely mistake is named."""

from __future__ import annotations

import re

import pytest
from checks_support import assert_named, assert_passes, failure_of

from lab import checks
from servers.sse import EventParser, encode_event


def good_encode(data, event=None, id=None):  # noqa: A002
    return encode_event(data, event=event, id=id)


def encoder(flaw: str = ""):
    """An encoder for exercise 03.1 as a learner writes it, right or with one ``flaw``."""

    def encode(data, event=None, id=None):  # noqa: A002
        head = []
        for name, value in [("event", event), ("id", id)]:
            if value is None:
                continue
            breaks = "\n" if flaw == "refuses only \\n" else "\r\n"
            if flaw != "never refuses" and any(c in value for c in breaks):
                error = TypeError if flaw == "raises TypeError" else ValueError
                raise error(f"{name} cannot contain a line break")
            head.append(f"{name}: {value}\n")
        if flaw == "splits with str.splitlines":
            lines = data.splitlines()
        elif flaw == "splits on \\n only":
            lines = data.split("\n")
        else:
            lines = re.split(r"\r\n|\r|\n", data)
        space = "" if flaw == "writes no space after data:" else " "
        body = "".join(f"data:{space}{line}\n" for line in lines)
        return (
            "".join(head) + body + ("" if flaw == "ends without a blank line" else "\n")
        ).encode()

    return encode


@pytest.mark.parametrize(
    ("flaw", "says"),
    [
        ("ends without a blank line", "an event must end with a blank line"),
        ("splits on \\n only", "CRLF and CR inside data"),
        ("splits with str.splitlines", "empty data"),
        ("writes no space after data:", "data that starts with spaces"),
        ("never refuses", "would end that field early"),
        ("refuses only \\n", "encode(data='x', id='1\\r2') returned"),
        (
            "raises TypeError",
            "raised TypeError: event cannot contain a line break; a caller expects",
        ),
    ],
)
def test_a_wrong_encoder_gets_a_message_naming_the_mistake(flaw, says):
    encoder(flaw)(data="x")  # each mutant still encodes a plain event
    assert_named(checks.check_03_encode, encoder(flaw), exercise="03.1", says=says)


def test_an_encoder_returning_text_is_told_to_return_bytes():
    def encode(data, event=None, id=None):  # noqa: A002
        return f"data: {data}\n\n"

    failure_of(checks.check_03_encode, encode, match="expected bytes")


def test_the_learner_style_encoder_without_a_flaw_passes(capsys):
    assert_passes(checks.check_03_encode, encoder(), exercise="03.1", capsys=capsys)


def parser(flaw: str = ""):
    """A parser for exercise 03.2 as a learner writes it, right or with one ``flaw``."""

    def parse(stream):
        text = stream.decode() if flaw == "decodes strictly" else stream.decode("utf-8", "replace")
        if flaw == "removes every BOM":
            text = text.replace("\ufeff", "")
        elif flaw != "keeps the BOM":
            text = text.removeprefix("\ufeff")
        events, data, last_id, buffered_id = [], "", "", None
        no_type = None if flaw == "takes an empty event: as the type" else ""
        kind = no_type
        for line in lines(text, flaw):
            if line == "" or (flaw == "lets a comment end the event" and line.startswith(":")):
                if flaw == "buffers the id like the type":
                    last_id = buffered_id if buffered_id is not None and data else last_id
                    buffered_id = None
                if data:
                    events.append((event_type(kind, flaw), finished(data, flaw), last_id))
                    last_id = "" if flaw == "resets the id after each event" else last_id
                    kind = no_type if flaw == "clears the type only when it dispatches" else kind
                if flaw != "clears the type only when it dispatches":
                    kind = no_type
                data = ""
                continue
            if line.startswith(":") or (
                flaw == "ignores lines without a colon" and ":" not in line
            ):
                continue
            field, _, value = line.partition(":")
            if flaw == "splits at every colon":
                value = (line.split(":") + [""])[1]
            value = stripped(value, flaw)
            if field == "data":
                data += value if flaw == "joins data without newlines" else value + "\n"
            elif field == "event":
                kind = value
            elif field == "id" and (flaw == "takes an id with NULL" or "\0" not in value):
                if flaw == "buffers the id like the type":
                    buffered_id = value
                else:
                    last_id = value
            elif field == "retry" and flaw == "reads retry with int()":
                int(value)
        if flaw == "dispatches what is left at the end" and data:
            events.append((event_type(kind, flaw), finished(data, flaw), last_id))
        return events

    return parse


def lines(text: str, flaw: str) -> list[str]:
    """The complete lines of ``text``: the last piece, with no line end yet, is left out."""
    if flaw == "splits lines with str.splitlines":
        return text.splitlines()
    if flaw == "splits lines on \\n only":
        return text.split("\n")[:-1]
    if flaw == "skips every \\n after a \\r\\n":
        found, line, after_cr = [], "", False
        for char in text:
            if char == "\n" and after_cr:
                continue  # the \n of a \r\n, but after_cr is never reset here
            after_cr = char == "\r"
            if char in "\r\n":
                found, line = [*found, line], ""
            else:
                line += char
        return found
    return re.split(r"\r\n|\r|\n", text)[:-1]


def event_type(kind: str | None, flaw: str) -> str | None:
    if flaw == "gives no default type":
        return kind
    if flaw == "takes an empty event: as the type":
        return "message" if kind is None else kind
    return kind or "message"


def finished(data: str, flaw: str) -> str:
    if flaw == "keeps the final newline":
        return data
    return data.rstrip("\n") if flaw == "strips every final newline" else data.removesuffix("\n")


def stripped(value: str, flaw: str) -> str:
    if flaw == "strips every space":
        return value.strip()
    return value[1:] if flaw == "drops the character after the colon" else value.removeprefix(" ")


def parse_by_blocks(stream):
    """Split the stream into events at every blank line, and dispatch each block."""
    events, last_id = [], ""
    for block in stream.decode().split("\n\n"):
        data, kind = [], "message"
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "data":
                data.append(value)
            elif field == "event":
                kind = value
            elif field == "id":
                last_id = value
        if data:
            events.append((kind, "\n".join(data), last_id))
    return events


WRONG_PARSERS = [
    ("joins data without newlines", "the standard's stock-ticker example"),
    ("keeps the final newline", "the standard's stock-ticker example"),
    ("gives no default type", "the standard's stock-ticker example"),
    ("drops the character after the colon", "the standard's fourth example"),
    ("strips every space", "the standard's second example"),
    ("ignores lines without a colon", "the standard's second example"),
    ("strips every final newline", "the standard's third example"),
    ("dispatches what is left at the end", "an event with no blank line after it"),
    ("splits at every colon", "a value may contain colons"),
    ("splits lines on \\n only", "CRLF and CR line ends"),
    ("skips every \\n after a \\r\\n", 'a "\\n" right after a "\\r\\n" is an empty line'),
    ("resets the id after each event", "the last event id persists"),
    ("buffers the id like the type", "an event with no data is not dispatched, but its id"),
    ("clears the type only when it dispatches", "the event type is cleared at every blank"),
    ("takes an empty event: as the type", 'an empty `event:` value dispatches as type "message"'),
    ("lets a comment end the event", "a comment inside an event neither ends"),
    ("reads retry with int()", "other fields (retry, an unknown foo) are ignored"),
    ("splits lines with str.splitlines", "only CR and LF end lines"),
    ("keeps the BOM", "a byte-order mark is dropped at the very start"),
    ("removes every BOM", "a byte-order mark is dropped at the very start"),
    ("takes an id with NULL", "an id containing NULL is ignored"),
    ("decodes strictly", "invalid UTF-8 becomes U+FFFD"),
]


@pytest.mark.parametrize(("flaw", "case"), WRONG_PARSERS)
def test_a_wrong_parser_fails_on_the_case_that_shows_its_mistake(flaw, case):
    message = failure_of(checks.check_03_parse, parser(flaw), match="exercise 03.2")
    assert message.startswith(f"[exercise 03.2] {case}"), message
    hint = next(h for _, _, what, h in checks.l03.PARSE_CASES if what.startswith(case))
    assert message.endswith(f"Hint: {hint}")


def test_every_parse_case_rejects_a_wrong_parser_of_its_own():
    caught = {case for _, case in WRONG_PARSERS}
    for _, _, what, _ in checks.l03.PARSE_CASES:
        assert any(what.startswith(case) for case in caught), f"no wrong parser fails on {what!r}"


def test_a_parser_that_splits_the_stream_at_blank_lines_dispatches_the_unfinished_last_block():
    third = "the standard's third example"
    message = failure_of(checks.check_03_parse, parse_by_blocks, match=third)
    assert "dispatch on a blank line only" in message


def test_a_parser_that_crashes_is_told_which_stream_and_which_of_its_lines():
    message = failure_of(checks.check_03_parse, parser("decodes strictly"))
    assert "Stream: b'data: \\xff\\n\\n'" in message and "raised UnicodeDecodeError" in message
    assert "at line" in message and "stream.decode()" in message
    assert 'errors="replace"' in message.split("Hint:")[1]


def test_an_unwritten_parser_is_reported_as_not_written_yet():
    def parse(stream):
        raise NotImplementedError()

    failure_of(checks.check_03_parse, parse, match="not written yet")


def test_the_reference_and_the_learner_style_parser_pass_the_exercise_checks(capsys):
    checks.check_03_parse(parser())
    checks.check_03_parse(
        lambda stream: [(e.type, e.data, e.last_event_id) for e in EventParser().feed(stream)]
    )
    checks.check_03_encode(good_encode)
    assert capsys.readouterr().out.count("✔") == 3
