"""Server-Sent Events on the wire, with no I/O: an encoder and an incremental parser (lesson 03).

``encode_event`` frames one event as the bytes a server writes. ``EventParser`` turns the bytes
a client reads, in chunks of any size, into ``Event`` objects, following the WHATWG HTML
standard's "parsing an event stream" and "interpreting an event stream" step by step: UTF-8
with invalid bytes replaced, one leading BOM dropped, lines ended by CR, LF or CRLF (a CRLF may
be split across two chunks), comments, fields without a colon, one leading space removed from a
value, ``id`` ignored when it contains NULL, ``retry`` only when all ASCII digits, an event with
no data not dispatched while its ``id`` still counts.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def encode_event(
    data: str,
    *,
    event: str | None = None,
    id: str | int | None = None,  # noqa: A002  (the field's name on the wire)
    retry: int | None = None,
) -> bytes:
    """One event as UTF-8 bytes, ending with the blank line that dispatches it.

    Multi-line ``data`` becomes one ``data:`` line per line (CR and CRLF folded to line
    breaks). ``ValueError`` for an ``event`` or ``id`` that cannot be framed (a line break,
    or NULL in an id, which a browser would ignore) and for a negative ``retry``.
    """
    if not isinstance(data, str):
        raise TypeError(f"data must be a str, got {type(data).__name__}: encode it first")
    lines = []
    if event is not None:
        _check_field("event", event, forbid_null=False)
        lines.append(f"event: {event}")
    if id is not None:
        id = str(id)
        _check_field("id", id, forbid_null=True)
        lines.append(f"id: {id}")
    if retry is not None:
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise ValueError(f"retry must be a whole number of milliseconds >= 0, got {retry!r}")
        lines.append(f"retry: {retry}")
    lines += [f"data: {line}" if line else "data:" for line in _LINE_BREAK.split(data)]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """A comment line (``: text``): ignored by clients, it keeps a quiet connection alive."""
    _check_field("comment", text, forbid_null=False)
    return f": {text}\n\n".encode() if text else b":\n\n"


def _check_field(name: str, value: str, *, forbid_null: bool) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} cannot contain a line break: {value!r}")
    if forbid_null and "\0" in value:
        raise ValueError(f"{name} cannot contain NULL (a browser would ignore it): {value!r}")


@dataclass(frozen=True)
class Event:
    """A dispatched event, as a browser's ``EventSource`` would deliver it."""

    data: str
    type: str = "message"
    last_event_id: str = ""


class EventParser:
    """Incremental parser: ``feed(chunk)`` returns the events that chunk completed.

    ``last_event_id`` is the stream's last event ID (what a reconnecting client sends back in
    ``Last-Event-ID``); ``retry`` the reconnection time in milliseconds the server asked for,
    or ``None``. A client that reconnects starts its new parser with the id it had, as
    ``EventSource`` does: ``EventParser(last_event_id="41")``.
    """

    def __init__(self, last_event_id: str = "") -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []
        """The pieces of the one line not yet ended: all the parser keeps between chunks."""
        self._started = False
        self._after_cr = False
        self._data: list[str] = []
        """The event's data lines so far, joined once at dispatch (``+=`` would copy them all
        again for every line: quadratic in a long event)."""
        self._type = ""
        self._id_buffer = last_event_id
        self.last_event_id = last_event_id
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse the next bytes of the stream.

        Linear in the chunk: it is split once, each line copied once, and only the unfinished
        last line is kept for the next chunk.
        """
        text = self._decoder.decode(chunk)
        if not text:  # nothing, or the start of a character split across chunks
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr:
            self._after_cr = False  # whatever comes next, the CR's line break is complete
            if text.startswith("\n"):
                text = text[1:]  # the LF of a CRLF split across chunks
        if "\r" in text:
            lines = _LINE_BREAK.split(text)
            self._after_cr = text.endswith("\r")  # the line ends here even if an LF follows
        else:
            lines = text.split("\n")
        if len(lines) == 1:
            self._partial.append(text)
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
        rest = lines.pop()
        self._partial = [rest] if rest else []
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:  # an id with NULL is ignored
            self._id_buffer = value
        elif field == "retry" and value.isascii() and value.isdigit():  # digits only
            self.retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._id_buffer
        if not self._data:  # no data line (an empty ``data:`` still counts: one empty line)
            self._type = ""
            return None
        event = Event(
            data="\n".join(self._data),  # each line ended by LF, the last LF removed
            type=self._type or "message",
            last_event_id=self.last_event_id,
        )
        self._data, self._type = [], ""
        return event
