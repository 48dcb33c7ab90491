"""servers.rfc6455.ServerConnection with no sockets: bytes in, events and bytes out. RFC 6455's
own examples, each close code, every way a stream can be cut, and the websockets library's own
Sans-I/O client on the other end."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from servers.rfc6455 import Event, ServerConnection, decode_frame, encode_frame
from servers.rfc6455.codec import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT
from servers.rfc6455.connection import CLOSING, OPEN
from servers.rfc6455.server import check_handshake, echo_messages, switching_protocols

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the key of RFC 6455 section 5.7's masked examples


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=MASK)


def close(code: int, reason: bytes = b"") -> bytes:
    return encode_frame(CLOSE, struct.pack("!H", code) + reason)


# RFC 6455 5.7: a fragmented text message, "Hel" + "lo", with a ping between the fragments,
# masked as a client must send them.
HEL_PING_LO = masked(TEXT, b"Hel", fin=False) + masked(PING, b"Hello") + masked(CONTINUATION, b"lo")


def test_the_rfcs_masked_hello_is_one_text_message():
    connection = ServerConnection()
    connection.receive_data(bytes.fromhex("818537fa213d7f9f4d5158"))  # RFC 6455 5.7, verbatim
    assert connection.events_received() == [Event(TEXT, b"Hello")]
    assert connection.data_to_send() == b""
    assert connection.state == OPEN


def test_hel_and_lo_with_a_ping_between_are_one_message_hello_the_ping_and_a_pong():
    connection = ServerConnection()
    connection.receive_data(HEL_PING_LO)
    events = connection.events_received()
    assert events == [Event(PING, b"Hello"), Event(TEXT, b"Hello")]
    assert events[1].text == "Hello"
    assert connection.data_to_send() == encode_frame(PONG, b"Hello")  # unmasked: from a server
    assert connection.events_received() == [] and connection.data_to_send() == b""


def test_an_unmasked_client_frame_is_answered_by_a_close_with_1002_and_what_follows_is_ignored():
    connection = ServerConnection()
    connection.receive_data(bytes.fromhex("810548656c6c6f"))  # RFC 6455 5.7's unmasked "Hello"
    assert connection.events_received() == []
    assert connection.data_to_send() == close(1002, b"client frames must be masked")
    assert connection.closed and connection.close_code == 1002
    connection.receive_data(masked(TEXT, b"too late") + masked(PING, b"anyone?"))
    assert connection.events_received() == [] and connection.data_to_send() == b""


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (masked(TEXT, b"\xff\xfe"), 1007),
        (masked(TEXT, b"caf\xc3", fin=False) + masked(CONTINUATION, b"\x28"), 1007),
        (masked(TEXT, b"x" * 101), 1009),
        (masked(TEXT, b"x" * 60, fin=False) + masked(CONTINUATION, b"x" * 41), 1009),
        (masked(CONTINUATION, b"lo"), 1002),
        (masked(TEXT, b"Hel", fin=False) + masked(TEXT, b"lo"), 1002),
        (bytes([0xC1, 0x80]) + MASK, 1002),  # RSV1 with no extension negotiated
        (bytes([0x83, 0x80]) + MASK, 1002),  # reserved opcode 3
        (masked(CLOSE, b"\x03"), 1002),  # a close payload of one byte
        (masked(CLOSE, struct.pack("!H", 1005)), 1002),  # a code that may not be sent
        (masked(CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
    ],
    ids=["bad UTF-8", "bad UTF-8 across fragments", "oversized", "oversized across fragments",
         "continuation first", "new message inside one", "RSV bit", "reserved opcode",
         "1-byte close", "close code 1005", "close reason not UTF-8"],
)
def test_a_broken_rule_closes_with_its_code(stream, code):
    connection = ServerConnection(max_message=100)
    connection.receive_data(stream)
    frame, used = decode_frame(sent := connection.data_to_send())
    assert used == len(sent) and frame.opcode == CLOSE
    assert struct.unpack("!H", frame.payload[:2]) == (code,)
    assert connection.closed and connection.close_code == code


def test_an_oversized_message_is_refused_from_its_header_before_the_payload_arrives():
    connection = ServerConnection(max_message=100_000)
    connection.receive_data(masked(TEXT, b"x" * 100_001)[:14])  # the header and mask key only
    assert connection.data_to_send() == close(1009, b"a message of 100001 bytes is over 100000")


def test_a_character_split_across_fragments_is_valid_text():
    connection = ServerConnection()
    connection.receive_data(masked(TEXT, b"caf\xc3", fin=False) + masked(CONTINUATION, b"\xa9"))
    assert [event.text for event in connection.events_received()] == ["café"]


def test_a_close_is_answered_with_its_code_after_what_the_application_sent_before_it():
    connection = ServerConnection()
    connection.receive_data(masked(TEXT, b"last words") + masked(CLOSE, struct.pack("!H", 1001)))
    events = connection.events_received()
    assert events == [Event(TEXT, b"last words"), Event(CLOSE, struct.pack("!H", 1001))]
    assert connection.state == CLOSING
    connection.send_text(events[0].text)  # the echo of the message before the close
    assert connection.data_to_send() == encode_frame(TEXT, b"last words") + close(1001)
    assert connection.closed and connection.close_code == 1001
    assert not connection.can_send
    with pytest.raises(RuntimeError, match="close frame was already sent"):
        connection.send_text("after the close")


def test_after_a_protocol_error_the_messages_before_it_are_events_but_nothing_more_is_sent():
    connection = ServerConnection()
    connection.receive_data(masked(TEXT, b"ok") + encode_frame(TEXT, b"unmasked"))
    assert connection.events_received() == [Event(TEXT, b"ok")]
    assert not connection.can_send
    echo_messages(connection)  # the echo loop's step: it must not raise, and sends nothing
    assert connection.data_to_send() == close(1002, b"client frames must be masked")


def test_closing_twice_or_while_answering_a_close_sends_one_close_frame():
    connection = ServerConnection()
    connection.close(1000)
    connection.close(1001)
    assert connection.data_to_send() == close(1000)
    answering = ServerConnection()
    answering.receive_data(masked(CLOSE, struct.pack("!H", 1001)))
    answering.close(1000)
    assert answering.data_to_send() == close(1001)


def test_a_close_without_a_code_is_answered_by_an_empty_close_and_reports_1005():
    connection = ServerConnection()
    connection.receive_data(masked(CLOSE, b""))
    assert connection.data_to_send() == encode_frame(CLOSE, b"")
    assert connection.closed and connection.close_code == 1005


def test_a_close_the_server_starts_completes_when_the_peer_answers():
    connection = ServerConnection()
    connection.close(1001, "going away")
    assert connection.data_to_send() == close(1001, b"going away")
    assert connection.state == CLOSING
    connection.receive_data(masked(PING, b"?"))  # not answered: a close was sent
    assert connection.data_to_send() == b""
    connection.receive_data(masked(CLOSE, struct.pack("!H", 1001)))
    assert connection.closed and connection.data_to_send() == b""
    assert connection.close_code == 1001


def test_the_peer_vanishing_reports_1006_and_a_half_sent_frame_can_be_failed():
    vanished = ServerConnection()
    vanished.receive_eof()
    assert vanished.closed and vanished.close_code == 1006
    stalled = ServerConnection()
    stalled.receive_data(masked(TEXT, b"half")[:3])
    assert stalled.mid_frame
    stalled.fail(1002, "a frame was left half-sent")
    assert stalled.data_to_send() == close(1002, b"a frame was left half-sent")
    assert not stalled.mid_frame


STREAMS = {
    "RFC fragments with a ping": HEL_PING_LO + masked(CLOSE, struct.pack("!H", 1000)),
    "every length form": masked(BINARY, b"") + masked(TEXT, "é".encode() * 150)
    + masked(BINARY, bytes(range(256)) * 260) + masked(PONG, b"p"),
    "a character cut by fragments": masked(TEXT, b"\xe2\x82", fin=False) + masked(PING, b"")
    + masked(CONTINUATION, b"\xac", fin=False) + masked(CONTINUATION, b"!"),
    "ends in bad UTF-8": masked(TEXT, b"ok") + masked(TEXT, b"\xc3", fin=False)
    + masked(CONTINUATION, b"\x28") + masked(TEXT, b"ignored"),
    "ends oversized": masked(PING, b"1") + masked(BINARY, bytes(70_001)),
    "ends unmasked": masked(TEXT, b"ok") + encode_frame(BINARY, bytes(300)),
    "data after the close": masked(CLOSE, struct.pack("!H", 1000)) + masked(TEXT, b"ignored"),
}


def fed(stream: bytes, cuts: list[int]) -> tuple[list[Event], bytes, int | None]:
    """Feed ``stream`` cut at ``cuts``; what came out, all of it."""
    connection, events, sent = ServerConnection(max_message=70_000), [], b""
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        connection.receive_data(stream[start:end])
        events += connection.events_received()
        sent += connection.data_to_send()
    return events, sent, connection.close_code


@pytest.mark.parametrize("name", STREAMS)
def test_fed_byte_by_byte_a_stream_gives_what_it_gives_in_one_piece(name):
    stream = STREAMS[name]
    whole = fed(stream, [])
    assert whole[0] or whole[2]  # the stream says something
    assert fed(stream, list(range(1, len(stream)))) == whole


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(STREAMS)), data=st.data())
def test_cut_at_random_places_a_stream_gives_what_it_gives_in_one_piece(name, data):
    stream = STREAMS[name]
    cuts = data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=12, unique=True))
    assert fed(stream, sorted(cuts)) == fed(stream, [])


def test_the_streams_give_the_events_and_codes_they_are_named_for():
    assert fed(STREAMS["RFC fragments with a ping"], [])[0][:2] == [
        Event(PING, b"Hello"), Event(TEXT, b"Hello")]
    assert [event.text for event in fed(STREAMS["a character cut by fragments"], [])[0][1:]] == [
        "€!"]
    codes = {name: fed(stream, [])[2] for name, stream in STREAMS.items()}
    assert codes == {"RFC fragments with a ping": 1000, "every length form": None,
                     "a character cut by fragments": None, "ends in bad UTF-8": 1007,
                     "ends oversized": 1009, "ends unmasked": 1002, "data after the close": 1000}


def pump(client: ClientProtocol, server: ServerConnection) -> list:
    """Carry the client's bytes to the server, let the echo answer, carry its bytes back; the
    frames the client received."""
    server.receive_data(b"".join(client.data_to_send()))
    echo_messages(server)
    client.receive_data(server.data_to_send())
    return client.events_received()


def test_the_websockets_librarys_sans_io_client_talks_to_it_with_no_socket():
    client = ClientProtocol(parse_uri("ws://test/"))
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    client.receive_data(switching_protocols(check_handshake(request[:-4])))
    [response] = client.events_received()
    assert isinstance(response, Response) and response.status_code == 101
    server = ServerConnection()

    client.send_text("héllo".encode())
    client.send_binary(bytes(range(256)))
    client.send_text(b"x" * 70_000)
    frames = pump(client, server)
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.TEXT, "héllo".encode()), (Opcode.BINARY, bytes(range(256))),
        (Opcode.TEXT, b"x" * 70_000)]

    client.send_text(b"Hel", fin=False)
    client.send_ping(b"are you there")
    client.send_continuation(b"lo", fin=True)
    assert [(f.opcode, f.data) for f in pump(client, server)] == [
        (Opcode.PONG, b"are you there"), (Opcode.TEXT, b"Hello")]

    client.send_close(1000, "bye")
    [frame] = pump(client, server)
    assert frame.opcode == Opcode.CLOSE
    assert client.close_rcvd.code == 1000 and server.closed and server.close_code == 1000


def test_a_close_the_server_starts_is_answered_by_the_websockets_client():
    client = ClientProtocol(parse_uri("ws://test/"))
    client.send_request(client.connect())
    client.receive_data(switching_protocols(check_handshake(b"".join(client.data_to_send())[:-4])))
    client.events_received()
    server = ServerConnection()
    server.close(1001, "shutting down")
    client.receive_data(server.data_to_send())
    assert client.close_rcvd.code == 1001 and client.close_rcvd.reason == "shutting down"
    server.receive_data(b"".join(client.data_to_send()))
    assert server.closed and server.close_code == 1001


@pytest.mark.parametrize("module", ["codec", "connection"])
def test_the_codec_and_the_connection_import_no_io(module):
    source = Path(__file__).parents[2] / "servers" / "rfc6455" / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported, "the walk found no imports: it is not reading the module"
    tops = {name.split(".")[0] for name in imported}
    assert not tops & {"asyncio", "socket", "aiohttp", "selectors", "ssl", "threading"}
    assert {name for name in imported if name.startswith("servers")} <= {"servers.rfc6455.codec"}
