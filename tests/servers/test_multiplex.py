"""servers.multiplex: lesson 05's origin with tick streams and a WebSocket echo, recording which
connection and HTTP version each rode on."""

from __future__ import annotations

import asyncio
import ssl

import h2.config
import h2.connection
import h2.events
import httpx
from websockets.asyncio.client import connect

from servers.multiplex import serve_multiplexed


async def _three_ticks(url: str) -> list[str]:
    data = []
    async with (
        httpx.AsyncClient(http2=True, verify=False) as client,
        client.stream("GET", url + "/ticks?every=0.01") as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line)
            if len(data) == 3:
                break
    return data


def test_ticks_are_numbered_events_and_the_server_records_the_stream_and_its_connection():
    with serve_multiplexed(http2=True) as server:
        data = asyncio.run(_three_ticks(server.url))
    assert data == ["data: tick 1", "data: tick 2", "data: tick 3"]
    [stream] = [s for s in server.seen.streams if s["path"] == "/ticks"]
    assert stream["http_version"] == "2" and len(server.seen.peers("/ticks")) == 1


async def _announced_settings(port: int) -> dict:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    try:
        while True:
            for event in connection.receive_data(await reader.read(65536)):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    return {k: v.new_value for k, v in event.changed_settings.items()}
    finally:
        writer.close()


def test_the_server_announces_the_stream_ceiling_and_the_extended_connect_it_was_given():
    with serve_multiplexed(http2=True, max_concurrent_streams=3) as server:
        settings = asyncio.run(_announced_settings(server.port))
    assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 3
    assert settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


async def _echo_once(url: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    async with connect(url.replace("https", "wss") + "/ws", ssl=context) as ws:
        await ws.send("hello")
        return await ws.recv()


def test_a_websocket_over_http_1_1_is_echoed_and_recorded_as_http_1_1():
    with serve_multiplexed(http2=True) as server:
        assert asyncio.run(_echo_once(server.url)) == "hello"
    [socket] = server.seen.websockets
    assert socket["http_version"] == "1.1" and socket["echoed"] == 1


def test_lesson_05_routes_still_answer():
    with serve_multiplexed(http2=False) as server, httpx.Client(verify=False) as client:
        assert client.get(server.url + "/ping").text == "pong"
        assert client.get(server.url + "/nowhere").status_code == 404
