"""lab.frames: frames explained byte by byte, and a raw client that reads exactly what it needs."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest
from support import chromium_page, needs

from lab.frames import (
    answer_summary,
    describe,
    explain,
    frames_in,
    handshake,
    handshake_answer,
    header_length,
    read_frame,
    upgrade_request,
)
from servers.rfc6455 import BINARY, PING, TEXT, Frame, encode_frame, serve_echo

MASKED_HELLO = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])


@pytest.mark.parametrize(
    ("length", "masked", "size"),
    [(0, False, 2), (125, False, 2), (126, False, 4), (65535, True, 8), (65536, False, 10),
     (1 << 20, True, 14)],
)
def test_header_length_is_what_encode_frame_puts_before_the_payload(length, masked, size):
    frame = encode_frame(BINARY, bytes(length), mask=b"abcd" if masked else None)
    assert header_length(length, masked=masked) == size == len(frame) - length


def test_describe_names_every_field_of_the_rfcs_masked_hello():
    rows = describe(MASKED_HELLO)
    assert [where for where, _, _ in rows] == ["0", "1", "2-5", "6-10"]
    assert "FIN=1 RSV=000 opcode=0x1 (text)" in rows[0][2]
    assert "MASK=1 length=5 (7-bit form)" in rows[1][2]
    assert rows[2] == ("2-5", "37 fa 21 3d", "masking key")
    assert rows[3][2] == "payload, masked; unmasked: b'Hello'"


def test_describe_shows_the_16_and_64_bit_length_forms_and_cuts_long_payloads():
    rows = describe(encode_frame(BINARY, bytes(256)))
    assert rows[1][2].endswith("the next 2 bytes hold the length")
    assert rows[2] == ("2-3", "01 00", "length=256 (16-bit form)")
    assert rows[3][1] == "00 " * 7 + "00 … (256 bytes)"
    rows = describe(encode_frame(BINARY, bytes(1 << 16), mask=b"abcd"))
    assert rows[2] == ("2-9", "00 00 00 00 00 01 00 00", "length=65536 (64-bit form)")
    assert rows[3][0] == "10-13" and rows[4][0] == "14-65549"


def test_explain_prints_one_line_per_field(capsys):
    explain(MASKED_HELLO)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[2].startswith("bytes 2-5") and "b'Hello'" in lines[3]


@pytest.fixture
def echo():
    with serve_echo() as server:
        yield server


def test_handshake_then_read_frame_reads_exactly_one_echoed_frame_at_a_time(echo):
    with handshake(echo.host, echo.port) as sock:
        sock.sendall(encode_frame(TEXT, b"one", mask=b"abcd") + encode_frame(
            BINARY, bytes(70_000), mask=b"wxyz"))
        frames = [read_frame(sock) for _ in range(2)]
        sock.sendall(encode_frame(PING, b"p", mask=b"abcd"))  # after: a pong may overtake echoes
        frames.append(read_frame(sock))
    assert [len(f) for f in frames] == [5, 70_010, 3]
    assert frames_in(b"".join(frames)) == [
        Frame(True, TEXT, b"one"), Frame(True, BINARY, bytes(70_000)), Frame(True, 0xA, b"p")]


def test_handshake_answer_reads_a_refusal_with_its_body(echo):
    request = upgrade_request(echo.host, echo.port, "not a key")
    answer = handshake_answer(echo.host, echo.port, request)
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"16 bytes in base64")


def test_handshake_refuses_a_server_that_does_not_switch_protocols():
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_200():
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_200)
        thread.start()
        try:
            with pytest.raises(ConnectionError, match="the upgrade failed"):
                handshake("127.0.0.1", listener.getsockname()[1], timeout=5)
        finally:
            thread.join()


def test_chromium_shows_the_three_echoes_and_a_clean_close(echo):
    needs("chromium")
    from lab.browser import render_output
    from lab.websocket_page import echo_html

    async def in_browser():
        async with chromium_page() as page:
            await render_output(page, echo_html(echo.url))
            await page.wait_for_function(
                "document.querySelector('.course-websocket').dataset.result")
            return json.loads(await page.get_attribute(".course-websocket", "data-result"))

    log = asyncio.run(in_browser())
    assert log[1::2][:3] == ['echoed text "hello from your browser"',
                             "echoed binary [0,1,2,253,254,255]",
                             "echoed text of 70000 characters"]
    assert log[-1] == "closed, code 1000 (clean)"


def test_answer_summary_gives_the_status_and_the_reason_or_the_version_offered():
    refusal = (b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
               b"Content-Length: 4\r\n\r\nonly")
    assert answer_summary(refusal) == ("HTTP/1.1 426 Upgrade Required",
                                       "only (and Sec-WebSocket-Version: 13)")
    switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    assert answer_summary(switched)[1] == "the connection now carries frames"
