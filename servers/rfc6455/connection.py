"""A WebSocket connection with no I/O, after the handshake: bytes in, events and bytes out
(lesson 06).

The pattern of the ``websockets`` library's ``protocol.py`` ("Sans-I/O"): the connection never
reads or writes a socket. Whoever owns the socket hands it what arrived, ``receive_data(data)``,
takes what the peer said, ``events_received()``, and writes what the connection must send,
``data_to_send()``. So every rule of RFC 6455 after the handshake lives here, testable with no
network at all:

- fragments are joined into one message; control frames may come between them;
- a ping is answered with a pong carrying its payload, queued as soon as the ping is read (so
  it may go out before what the application then sends in answer to earlier messages);
- a close is answered with a close (after anything the application queued in answer to the
  messages before it, as section 5.5.1 allows), then the connection is closed;
- text is checked as UTF-8 as it arrives, fragment by fragment (a character may be split
  across fragments): bad bytes close with 1007;
- a message over ``max_message`` bytes closes with 1009 as soon as a header announces it;
- any other broken rule (an unmasked client frame, a continuation with no message started, a
  reserved opcode or bit) closes with 1002.

Once closed, the connection ignores whatever else arrives.
"""

from __future__ import annotations

import struct
from codecs import getincrementaldecoder
from dataclasses import dataclass

import servers.rfc6455.codec as codec
from servers.rfc6455.codec import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, Frame, Header

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
"""``CLOSING``: a close frame went one way, the other is still to come."""

NO_STATUS = 1005
"""RFC 6455 7.1.5: the close code to report when a close frame carries none."""

ABNORMAL = 1006
"""RFC 6455 7.1.5: the connection ended without any close frame."""


@dataclass(frozen=True)
class Event:
    """What the peer sent: a whole message (``TEXT`` or ``BINARY``, its fragments joined) or
    a control frame (``PING``, ``PONG``, ``CLOSE``); ``payload`` is unmasked."""

    opcode: int
    payload: bytes

    @property
    def text(self) -> str:
        """A text message's payload as ``str`` (the connection checked that it is UTF-8)."""
        return self.payload.decode("utf-8")

    def __repr__(self) -> str:
        return f"Event({codec.OPCODE_NAMES[self.opcode]}, {self.payload!r})"


class Failure(Exception):
    """A rule the peer broke: the connection closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class ServerConnection:
    """The server's side of one WebSocket connection, once the handshake is done."""

    def __init__(self, *, max_message: int = 1 << 20) -> None:
        self.max_message = max_message
        self.state = OPEN
        self.close_code: int | None = None
        """The code of the first close frame, sent or received (1006 if the peer vanished)."""
        self.close_reason = ""
        self._buffer = b""  # bytes of a frame not complete yet
        self._events: list[Event] = []
        self._outgoing: list[bytes] = []
        self._close_sent = False
        self._close_reply: bytes | None = None  # goes out at the end of the next data_to_send
        self._kind: int | None = None  # TEXT or BINARY while a fragmented message is open
        self._parts: list[bytes] = []
        self._size = 0
        self._utf8 = getincrementaldecoder("utf-8")()

    @property
    def closed(self) -> bool:
        """Nothing more will be read or sent: the owner sends ``data_to_send()`` and hangs up."""
        return self.state == CLOSED

    @property
    def can_send(self) -> bool:
        """Messages may still be queued: no close frame has been sent (a peer's close may have
        come in: what is sent now goes out before the answer to it)."""
        return not self._close_sent and not self.closed

    @property
    def mid_frame(self) -> bool:
        """Part of a frame has arrived, not all of it."""
        return bool(self._buffer) and not self.closed

    def receive_data(self, data: bytes) -> None:
        """Take bytes as they came off the wire, in pieces of any size."""
        if self.closed or self._close_reply is not None:
            return  # a close came in: nothing after it counts
        rest = arrived = memoryview(self._buffer + data)
        try:
            for frame, rest in codec.iter_frames(arrived, self._check):  # noqa: B007 (kept below)
                self._receive(frame)
                if self.closed or self._close_reply is not None:
                    return
        except codec.ProtocolError as error:
            self.fail(1002, str(error))
        except Failure as failure:
            self.fail(failure.code, failure.reason)
        finally:
            self._buffer = b"" if self.closed or self._close_reply else bytes(rest)

    def receive_eof(self) -> None:
        """The peer closed the TCP connection."""
        if not self.closed:
            self.state = CLOSED
            if self.close_code is None:
                self.close_code = ABNORMAL

    def events_received(self) -> list[Event]:
        """The messages and control frames completed since the last call."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """The bytes to write now (empty when there is nothing to send)."""
        if self._close_reply is not None:
            self._outgoing.append(self._close_reply)
            self._close_reply, self._close_sent, self.state = None, True, CLOSED
        data, self._outgoing = b"".join(self._outgoing), []
        return data

    def send_text(self, text: str) -> None:
        """Queue a text message, as one frame."""
        self._send(TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        """Queue a binary message, as one frame."""
        self._send(BINARY, bytes(data))

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping; the peer's pong comes back as an event."""
        self._send(PING, payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake: send a close frame, then wait for the peer's (nothing to
        do if a close is already under way)."""
        if not self.can_send or self._close_reply is not None:
            return
        self._send(CLOSE, _close_payload(code, reason))
        self._close_sent = True
        self.state, self.close_code, self.close_reason = CLOSING, code, reason

    def fail(self, code: int, reason: str) -> None:
        """Close at once with ``code`` (RFC 6455 7.1.7, "fail the WebSocket connection")."""
        if self.closed:
            return
        if not self._close_sent:
            self._outgoing.append(codec.encode_frame(CLOSE, _close_payload(code, reason)))
        self.state, self.close_code, self.close_reason = CLOSED, code, reason
        self._close_sent, self._close_reply, self._buffer = True, None, b""

    def _send(self, opcode: int, payload: bytes) -> None:
        if not self.can_send:
            raise RuntimeError(f"the connection is {self.state}: a close frame was already sent")
        self._outgoing.append(codec.encode_frame(opcode, payload))

    def _check(self, header: Header) -> None:
        """The rules a header alone can break, checked before its payload arrives."""
        if not header.masked:
            raise Failure(1002, "client frames must be masked")
        if header.opcode not in codec.DATA_OPCODES:
            return
        if (header.opcode == CONTINUATION) != (self._kind is not None):
            raise Failure(1002, "a continuation without a start, or a new message inside one")
        if self._size + header.length > self.max_message:
            size = self._size + header.length
            raise Failure(1009, f"a message of {size} bytes is over {self.max_message}")

    def _receive(self, frame: Frame) -> None:
        if frame.opcode in codec.DATA_OPCODES:
            self._receive_data_frame(frame)
        elif frame.opcode == PING:
            self._events.append(Event(PING, frame.payload))
            if self.state == OPEN:
                self._outgoing.append(codec.encode_frame(PONG, frame.payload))
        elif frame.opcode == PONG:
            self._events.append(Event(PONG, frame.payload))
        else:
            self._receive_close(frame.payload)

    def _receive_data_frame(self, frame: Frame) -> None:
        if frame.opcode != CONTINUATION:
            self._kind = frame.opcode
        if self._kind == TEXT:
            try:
                self._utf8.decode(frame.payload, final=frame.fin)
            except UnicodeDecodeError:
                raise Failure(1007, "text messages must be UTF-8") from None
        self._parts.append(frame.payload)
        self._size += len(frame.payload)
        if frame.fin:
            self._events.append(Event(self._kind, b"".join(self._parts)))
            self._kind, self._parts, self._size = None, [], 0
            self._utf8.reset()

    def _receive_close(self, payload: bytes) -> None:
        code, reason = _parse_close(payload)
        self._events.append(Event(CLOSE, payload))
        self._buffer = b""
        if self._close_sent:  # the answer to our close: the handshake is complete
            self.state = CLOSED
            return
        self.state, self.close_code, self.close_reason = CLOSING, code, reason
        self._close_reply = codec.encode_frame(CLOSE, payload[:2])  # echo the code (RFC 6455 5.5.1)


def _close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


def _parse_close(payload: bytes) -> tuple[int, str]:
    """A close frame's code and reason; ``Failure`` for a payload RFC 6455 7.4 forbids."""
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise Failure(1002, "a close payload is empty or starts with a 2-byte code")
    code = struct.unpack("!H", payload[:2])[0]
    if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code < 5000):
        raise Failure(1002, f"close code {code} may not be sent")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise Failure(1007, "a close reason must be UTF-8") from None
