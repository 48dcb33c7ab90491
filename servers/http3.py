"""HTTP/3 and WebTransport on aioquic, in the kernel, over UDP on loopback (lesson 13).

``serve_webtransport()`` listens on a UDP port of 127.0.0.1 with a fresh self-signed ECDSA
certificate valid for ten days: a browser may pin such a certificate by its SHA-256 hash
(``serverCertificateHashes`` in the WebTransport constructor) instead of trusting a CA, and
the W3C WebTransport spec allows that only for a certificate valid for two weeks at most, whose
key is of an allowed algorithm (a list that must include ECDSA on P-256 and must not include
RSA: its "custom certificate requirements"). The server accepts WebTransport sessions (an
extended ``CONNECT`` with ``:protocol = webtransport``), echoes every bidirectional stream's
bytes back on that stream and every datagram as a datagram; over plain HTTP/3 it answers ``GET
/`` and serves ``GET /events...`` as an SSE stream that sends one event and stays open. It
keeps a ``Record`` of what it saw. Modelled on aioquic's ``examples/http3_server.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    H3Event,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent, StreamDataReceived
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers import lifecycle, runtime
from servers.sse import encode_event

VALID_DAYS = 10
"""How long the certificate is valid: under the 14 days the WebTransport spec allows a pinned
certificate (its "custom certificate requirements")."""


@dataclass
class Record:
    """What the server saw, appended to from its loop, read by cells."""

    requests: list[dict] = field(default_factory=list)
    """One ``{"method", "protocol", "path", "stream", "encoder_bytes"}`` per request (a CONNECT
    or a GET); ``encoder_bytes``: the bytes the client's QPACK encoder stream had carried when
    the request's headers were decoded (so the entries they needed had arrived)."""
    stream_bytes_in: Counter = field(default_factory=Counter)
    """Bytes received per QUIC stream id, frames included: a GET's stream carries only its
    HEADERS frame, so this is its request header bytes over HTTP/3 (QPACK-encoded). Stream ids
    repeat from one connection to the next, so a count is one stream's only while the server
    has had one connection (``connections``)."""
    connections: int = 0
    """QUIC connections accepted."""
    encoder_stream: int | None = None
    """The client's QPACK encoder stream (its dynamic-table updates), once it has one."""
    stream_bytes: int = 0
    """Bytes received on WebTransport streams (each echoed back)."""
    datagrams: int = 0
    """Datagrams received (each echoed back)."""
    datagram_sizes: Counter = field(default_factory=Counter)
    """How many datagrams of each size (bytes) were received."""


def make_certificate(folder: Path) -> tuple[Path, Path, bytes]:
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, valid ``VALID_DAYS``:
    ``(cert_path, key_path, sha256_of_der)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return cert_path, key_path, digest


class _Protocol(QuicConnectionProtocol):
    """One QUIC connection: HTTP/3 on top, WebTransport sessions inside it."""

    record: Record  # set on the class made for each server

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None
        self.record.connections += 1

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._http = H3Connection(self._quic, enable_webtransport=True)
        if isinstance(event, StreamDataReceived):
            self.record.stream_bytes_in[event.stream_id] += len(event.data)
        if self._http is not None:
            for http_event in self._http.handle_event(event):
                self._http_event(http_event)
            if self._http._peer_encoder_stream_id is not None:
                self.record.encoder_stream = self._http._peer_encoder_stream_id

    def _http_event(self, event: H3Event) -> None:
        http = self._http
        if isinstance(event, HeadersReceived):
            headers = dict(event.headers)
            method = headers.get(b":method", b"").decode()
            protocol = headers.get(b":protocol", b"").decode() or None
            path = headers.get(b":path", b"").decode()
            encoder = http._peer_encoder_stream_id
            self.record.requests.append(
                {
                    "method": method, "protocol": protocol, "path": path,
                    "stream": event.stream_id,
                    "encoder_bytes": 0 if encoder is None else self.record.stream_bytes_in[encoder],
                }
            )
            if method == "CONNECT" and protocol == "webtransport":
                http.send_headers(
                    event.stream_id,
                    [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")],
                )
            elif method == "GET" and path.startswith("/events"):
                http.send_headers(
                    event.stream_id,
                    [
                        (b":status", b"200"),
                        (b"content-type", b"text/event-stream"),
                        (b"cache-control", b"no-store, no-transform"),
                        (b"access-control-allow-origin", b"*"),
                    ],
                )
                body = encode_event(f"open on {path}", id=1)
                http.send_data(event.stream_id, body, end_stream=False)  # a stream stays open
            elif method == "GET":
                body = b"hello over HTTP/3"
                http.send_headers(
                    event.stream_id,
                    [
                        (b":status", b"200"),
                        (b"content-type", b"text/plain"),
                        (b"access-control-allow-origin", b"*"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                )
                http.send_data(event.stream_id, body, end_stream=True)
            else:
                http.send_headers(event.stream_id, [(b":status", b"404")], end_stream=True)
        elif isinstance(event, WebTransportStreamDataReceived):
            self.record.stream_bytes += len(event.data)
            if event.data or event.stream_ended:  # echo on the same (bidirectional) stream
                self._quic.send_stream_data(event.stream_id, event.data, event.stream_ended)
        elif isinstance(event, DatagramReceived):
            self.record.datagrams += 1
            self.record.datagram_sizes[len(event.data)] += 1
            http.send_datagram(event.stream_id, event.data)
        self.transmit()


class WebTransportServer:
    """A running HTTP/3 server: ``.url``, ``.port`` (UDP), ``.certificate_hash``, ``.record``,
    ``.stop()``; a context manager."""

    def __init__(self) -> None:
        self.record = Record()
        self.port = 0
        self.certificate_hash = b""
        self.cert_path: Path | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="course-h3-")
        self._server = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> WebTransportServer:
        if self._server is not None:
            return self
        cert, key, self.certificate_hash = make_certificate(Path(self._folder.name))
        self.cert_path = cert
        configuration = QuicConfiguration(
            alpn_protocols=H3_ALPN, is_client=False, max_datagram_frame_size=65536
        )
        configuration.load_cert_chain(cert, key)
        protocol = type("Protocol", (_Protocol,), {"record": self.record})

        async def launch():
            return await serve(
                "127.0.0.1", 0, configuration=configuration, create_protocol=protocol
            )

        self._server = runtime.run(launch(), timeout=10)
        self.port = self._server._transport.get_extra_info("sockname")[1]
        lifecycle.keep(self)
        return self

    def stop(self) -> None:
        """Close the UDP socket and every QUIC connection; safe to call twice."""
        if self._server is None:
            return

        async def shut_down():
            self._server.close()
            await asyncio.sleep(0)

        runtime.run(shut_down(), timeout=10)
        self._server = None
        self._folder.cleanup()
        lifecycle.forget(self)

    def __enter__(self) -> WebTransportServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_webtransport() -> WebTransportServer:
    """Start an HTTP/3 + WebTransport echo server on a free UDP port of 127.0.0.1."""
    return WebTransportServer().start()
