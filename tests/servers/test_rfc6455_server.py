"""The hand-written echo server against independent peers: the websockets library, raw bytes,
and Chromium's WebSocket."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

import pytest
import websockets
from support import chromium_page, needs

from servers.rfc6455 import CLOSE, TEXT, decode_frame, encode_frame, serve_echo
from servers.rfc6455.codec import accept_key
from servers.rfc6455.server import Refused, check_handshake

KEY = base64.b64encode(os.urandom(16)).decode()
GOOD_HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def echo():
    with serve_echo(max_message=100_000, frame_timeout=0.3) as server:
        yield server


def test_the_websockets_library_gets_text_binary_and_large_messages_echoed(echo):
    async def talk():
        async with websockets.connect(echo.url, max_size=None) as ws:
            answers = []
            for message in ["hello", b"\x00\xff" * 10, "x" * 70_000]:
                await ws.send(message)
                answers.append(await ws.recv())
            await ws.send(["frag", "mented"])  # one message in two frames
            answers.append(await ws.recv())
            await (await ws.ping(b"are you there"))
        return answers, ws.close_code

    answers, code = asyncio.run(talk())
    assert answers == ["hello", b"\x00\xff" * 10, "x" * 70_000, "fragmented"]
    assert code == 1000


def raw_exchange(server, request: str, then: bytes = b"", read_until_close=True) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request.encode() + then)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if not read_until_close:
                break
        return received


@pytest.mark.parametrize(
    ("request_text", "status", "says"),
    [
        (GOOD_HANDSHAKE.replace(f"Sec-WebSocket-Key: {KEY}\r\n", ""), b"400", b"Sec-WebSocket-Key"),
        (GOOD_HANDSHAKE.replace(KEY, "not base64!"), b"400", b"Sec-WebSocket-Key"),
        (GOOD_HANDSHAKE.replace("Upgrade: websocket\r\n", ""), b"400", b"Upgrade: websocket"),
        (
            GOOD_HANDSHAKE.replace("Connection: Upgrade", "Connection: keep-alive"),
            b"400",
            b"Connection",
        ),
        (GOOD_HANDSHAKE.replace("Host: test\r\n", ""), b"400", b"Host"),
        (GOOD_HANDSHAKE.replace("Upgrade: websocket", "Upgrade: notwebsocket"), b"400", b"Upgrade"),
        (GOOD_HANDSHAKE.replace("GET", "POST"), b"400", b"GET"),
        (GOOD_HANDSHAKE.replace("Version: 13", "Version: 8"), b"426", b"Sec-WebSocket-Version: 13"),
    ],
)
def test_a_bad_handshake_gets_its_documented_answer(echo, request_text, status, says):
    answer = raw_exchange(echo, request_text)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert says in answer


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [("websocket", "Upgrade"), ("WebSocket", "keep-alive, upgrade"), ("h2c, websocket", "Upgrade")],
)
def test_upgrade_and_connection_are_compared_as_case_insensitive_tokens(upgrade, connection):
    request = GOOD_HANDSHAKE.replace("Upgrade: websocket", f"Upgrade: {upgrade}").replace(
        "Connection: Upgrade", f"Connection: {connection}"
    )
    assert check_handshake(request.encode()[:-4]) == accept_key(KEY)


@pytest.mark.parametrize(
    ("replace", "says"),
    [
        (("Host: test\r\n", ""), "Host"),
        (("Host: test", "Host:"), "Host"),
        (("Upgrade: websocket", "Upgrade: notwebsocket"), "Upgrade"),
        (("Upgrade: websocket", "Upgrade: websocket2"), "Upgrade"),
    ],
)
def test_check_handshake_refuses_no_host_and_an_upgrade_that_only_contains_websocket(replace, says):
    with pytest.raises(Refused) as refused:
        check_handshake(GOOD_HANDSHAKE.replace(*replace).encode()[:-4])
    assert refused.value.response.startswith(b"HTTP/1.1 400")
    assert says in str(refused.value)


def close_code(answer: bytes) -> int:
    frames, rest = [], answer.split(b"\r\n\r\n", 1)[1]
    while (decoded := decode_frame(rest)) is not None:
        frame, used = decoded
        frames.append(frame)
        rest = rest[used:]
    assert frames[-1].opcode == CLOSE
    return struct.unpack("!H", frames[-1].payload[:2])[0]


@pytest.mark.parametrize(
    ("then", "code"),
    [
        (encode_frame(TEXT, b"unmasked"), 1002),
        (encode_frame(TEXT, b"\xff\xfe", mask=b"abcd"), 1007),
        (encode_frame(TEXT, b"x" * 100_001, mask=b"abcd")[:20], 1009),
        (encode_frame(TEXT, b"half", mask=b"abcd")[:3], 1002),
        (bytes([0x83, 0x80]) + b"abcd", 1002),
        (encode_frame(TEXT, b"ok", mask=b"abcd") + encode_frame(TEXT, b"unmasked"), 1002),
        (encode_frame(TEXT, b"ok", mask=b"abcd") + encode_frame(TEXT, b"\xff", mask=b"abcd"), 1007),
    ],
    ids=["unmasked frame", "text not UTF-8", "message too big", "half-sent frame", "bad opcode",
         "a message then an unmasked frame", "a message then bad UTF-8"],
)
def test_a_protocol_violation_is_closed_with_the_right_code_and_others_are_still_served(
    echo, then, code
):
    assert close_code(raw_exchange(echo, GOOD_HANDSHAKE, then)) == code

    async def still_serving():
        async with websockets.connect(echo.url) as ws:
            await ws.send("still here")
            return await ws.recv()

    assert asyncio.run(still_serving()) == "still here"


PAGE_SCRIPT = """async url => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const answers = [];
  const next = () => new Promise(resolve => { ws.onmessage = e => resolve(e.data); });
  await new Promise(resolve => { ws.onopen = resolve; });
  for (const message of ["hello", new Uint8Array([0, 255, 7]).buffer, "y".repeat(70000)]) {
    ws.send(message);
    const echoed = await next();
    answers.push(typeof echoed === "string" ? echoed.length + ":" + echoed.slice(0, 5)
                                              : "bytes:" + Array.from(new Uint8Array(echoed)));
  }
  ws.close(1000);
  await new Promise(resolve => {
    ws.onclose = e => { answers.push("closed:" + e.code); resolve(); };
  });
  return answers;
}"""


def test_chromium_exchanges_text_binary_and_a_message_over_64_kib_with_it(echo):
    needs("chromium")

    async def in_browser():
        async with chromium_page() as page:
            return await page.evaluate(PAGE_SCRIPT, echo.url)

    assert asyncio.run(in_browser()) == ["5:hello", "bytes:0,255,7", "70000:yyyyy", "closed:1000"]


def test_stopping_with_a_client_attached_drops_it_and_leaves_no_tasks():
    from servers import runtime

    before = set(runtime.pending_tasks())
    server = serve_echo(name="echo-to-stop")
    assert serve_echo(name="echo-to-stop").port != server.port  # the name is taken over
    assert not server.running
    server = serve_echo(name="echo-to-stop")

    async def attached_then_stopped():
        async with websockets.connect(server.url) as ws:
            await ws.send("before")
            await ws.recv()
            await asyncio.to_thread(server.stop)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()

    asyncio.run(attached_then_stopped())
    assert set(runtime.pending_tasks()) - before == set()
