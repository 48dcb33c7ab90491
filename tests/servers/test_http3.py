"""servers.http3: a short-lived ECDSA certificate a browser can pin, and an aioquic server that
opens WebTransport sessions and echoes datagrams, driven by aioquic's own client."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ssl
import tempfile
from pathlib import Path

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DatagramReceived, DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from servers import lifecycle
from servers.http3 import VALID_DAYS, WebTransportServer, make_certificate, serve_webtransport


def test_the_certificate_is_ecdsa_valid_at_most_14_days_and_its_hash_is_of_its_der():
    with tempfile.TemporaryDirectory() as folder:
        cert_path, _, digest = make_certificate(Path(folder))
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=14) and VALID_DAYS <= 14
    assert certificate.not_valid_before_utc <= datetime.datetime.now(datetime.UTC)
    assert digest == hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()


class _Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.events: asyncio.Queue = asyncio.Queue()

    def quic_event_received(self, event) -> None:
        for http_event in self.http.handle_event(event):
            self.events.put_nowait(http_event)


async def _exchange(port: int) -> dict:
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536
    )
    configuration.verify_mode = ssl.CERT_NONE
    async with connect(
        "127.0.0.1", port, configuration=configuration, create_protocol=_Client
    ) as client:
        seen = {}

        async def next_event(kind):
            while not isinstance(event := await asyncio.wait_for(client.events.get(), 10), kind):
                pass
            return event

        get = client._quic.get_next_available_stream_id()
        client.http.send_headers(get, [(b":method", b"GET"), (b":scheme", b"https"),
                                       (b":authority", b"127.0.0.1"), (b":path", b"/")],
                                 end_stream=True)
        client.transmit()
        seen["get_status"] = dict((await next_event(HeadersReceived)).headers)[b":status"]
        seen["get_body"] = (await next_event(DataReceived)).data
        events = client._quic.get_next_available_stream_id()
        client.http.send_headers(events, [(b":method", b"GET"), (b":scheme", b"https"),
                                          (b":authority", b"127.0.0.1"), (b":path", b"/events")],
                                 end_stream=True)
        client.transmit()
        head = dict((await next_event(HeadersReceived)).headers)
        seen["events_type"] = head[b"content-type"]
        first = await next_event(DataReceived)
        seen["first_event"], seen["events_ended"] = first.data, first.stream_ended
        session = client._quic.get_next_available_stream_id()
        client.http.send_headers(session, [
            (b":method", b"CONNECT"), (b":protocol", b"webtransport"), (b":scheme", b"https"),
            (b":authority", b"127.0.0.1"), (b":path", b"/wt"), (b"origin", b"http://127.0.0.1")])
        client.transmit()
        seen["connect_status"] = dict((await next_event(HeadersReceived)).headers)[b":status"]
        client.http.send_datagram(session, b"ping")
        client.transmit()
        seen["datagram"] = (await next_event(DatagramReceived)).data
        return seen


def test_the_server_answers_a_get_and_an_sse_stream_over_http3_and_echoes_a_datagram():
    with serve_webtransport() as server:
        seen = asyncio.run(_exchange(server.port))
    assert seen == {"get_status": b"200", "get_body": b"hello over HTTP/3",
                    "events_type": b"text/event-stream",
                    "first_event": b"id: 1\ndata: open on /events\n\n", "events_ended": False,
                    "connect_status": b"200", "datagram": b"ping"}
    assert [r["method"] for r in server.record.requests] == ["GET", "GET", "CONNECT"]
    assert server.record.requests[2]["protocol"] == "webtransport"
    assert server.record.connections == 1
    assert server.record.datagrams == 1
    get_stream = server.record.requests[0]["stream"]
    assert 0 < server.record.stream_bytes_in[get_stream] < 100  # one small HEADERS frame


def test_stopping_twice_is_safe_and_forgets_the_server():
    server = serve_webtransport()
    assert server in lifecycle.kept(WebTransportServer)
    server.stop()
    server.stop()
    assert server not in lifecycle.kept(WebTransportServer)
