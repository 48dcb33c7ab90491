"""lab.h3_polls: Chromium forced onto HTTP/3 for ordinary fetches, each request's header bytes
counted at the aioquic server."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from support import needs

from lab.browser import blank_page_app
from lab.h3_polls import chromium_polls_over_http3, chromium_streams_over_http3, spki_hash
from servers import serve
from servers.http3 import serve_webtransport


def test_the_spki_hash_is_the_base64_sha256_of_the_certificates_public_key():
    with serve_webtransport() as server:
        certificate = x509.load_pem_x509_certificate(server.cert_path.read_bytes())
        got = spki_hash(server.cert_path)
    key = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(got) == hashlib.sha256(key).digest()


def test_chromium_polls_over_http3_and_each_requests_header_bytes_are_counted():
    needs("chromium")
    with serve_webtransport() as server, serve(blank_page_app()) as page:
        result = asyncio.run(chromium_polls_over_http3(page.url, server, 4))
    assert result["answers"] == ["hello over HTTP/3"] * 4  # this server speaks only HTTP/3
    assert all(size is not None and size > 0 for size in result["headers"])
    assert result["encoder"] >= 0 and result["connections"] == 1
    per_poll = result["encoder_per_poll"]
    # every table entry went before the request that needed it, and none after the last one
    assert all(n is not None and n >= 0 for n in per_poll) and sum(per_poll) == result["encoder"]
    assert [r["path"] for r in server.record.requests] == [f"/?since={k}" for k in range(1, 5)]


def test_chromium_opens_more_than_six_event_sources_over_one_quic_connection():
    needs("chromium")
    with serve_webtransport() as server, serve(blank_page_app()) as page:
        result = asyncio.run(chromium_streams_over_http3(page.url, server, 8))
    assert all(first is not None for first in result["firsts"])
    assert result["connections"] == 1
