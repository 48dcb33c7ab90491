"""Polls and SSE streams from Chromium over HTTP/3, counted at the server (lesson 13).

Chromium uses HTTP/3 for an ordinary ``fetch()`` only to a server it trusts and knows to speak
it. ``chromium_polls_over_http3`` tells it both with two command-line flags, for this run and
this browser only: ``--origin-to-force-quic-on=127.0.0.1:PORT`` (use QUIC for that origin at
once, no ``Alt-Svc`` needed) and ``--ignore-certificate-errors-spki-list=HASH`` (accept the
certificate whose public key has that SHA-256 hash). The page then polls the aioquic server of
``servers.http3`` ``count`` times; its ``Record`` holds the bytes each request's QUIC stream
carried (only the HEADERS frame, for a GET) and those of Chromium's QPACK encoder stream.
``chromium_streams_over_http3`` opens many ``EventSource``s the same way and reports their
first events and how many QUIC connections carried them.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lab.browser import open_browser

POLLS = """async ({url, count}) => {
  const answers = [];
  for (let k = 1; k <= count; k++) {
    try { answers.push(await (await fetch(url + "/?since=" + k)).text()); }
    catch (error) { answers.push(String(error)); }
  }
  return answers;
}"""


def spki_hash(cert_path: Path) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's SPKI list wants it."""
    certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(key).digest()).decode()


def _force_quic(server) -> list[str]:
    return [
        f"--origin-to-force-quic-on=127.0.0.1:{server.port}",
        f"--ignore-certificate-errors-spki-list={spki_hash(server.cert_path)}",
    ]


async def chromium_polls_over_http3(page_url: str, server, count: int = 10) -> dict:
    """``{"answers": [text per poll], "headers": [request header bytes per poll, in order, or
    None where the server saw no such request], "encoder": bytes on Chromium's QPACK encoder
    stream, "encoder_per_poll": [the encoder stream's bytes that arrived for each poll: up to
    its request, since the one before; None where the request is missing], "connections": QUIC
    connections the server accepted meanwhile}`` for ``count`` fetches from a page at
    ``page_url`` to ``server``. The byte counts are per stream id, so they are this run's only
    when ``connections`` is 1 on a fresh server."""
    before, connections = len(server.record.requests), server.record.connections
    async with open_browser(extra_args=_force_quic(server)) as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        answers = await page.evaluate(POLLS, {"url": server.url, "count": count})
    record = server.record
    polls = {r["path"]: r for r in record.requests[before:] if r["method"] == "GET"}
    found = [polls.get(f"/?since={k}") for k in range(1, count + 1)]
    headers = [None if r is None else record.stream_bytes_in[r["stream"]] for r in found]
    encoder = record.stream_bytes_in[record.encoder_stream] if record.encoder_stream else 0
    marks = [0] + [None if r is None else r["encoder_bytes"] for r in found]
    per_poll = [
        None if None in (a, b) else b - a for a, b in zip(marks, marks[1:], strict=False)
    ]
    return {"answers": answers, "headers": headers, "encoder": encoder,
            "encoder_per_poll": per_poll, "connections": record.connections - connections}


STREAMS = """async ({url, n, wait}) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const started = performance.now();
  const firsts = Array(n).fill(null), sources = [];
  for (let k = 0; k < n; k++) {
    const source = new EventSource(url + "/events?stream=" + k);
    source.onmessage = () => { if (firsts[k] === null) firsts[k] = performance.now() - started; };
    sources.push(source);
  }
  while (firsts.includes(null) && performance.now() - started < wait) await sleep(10);
  sources.forEach(source => source.close());
  return firsts;
}"""


async def chromium_streams_over_http3(
    page_url: str, server, n: int = 10, *, wait_ms: float = 3000
) -> dict:
    """``{"firsts": [ms to the first event, or None, per EventSource], "connections": QUIC
    connections the server accepted meanwhile}`` for ``n`` streams to ``server``'s
    ``/events``, Chromium forced onto QUIC as for the polls."""
    before = server.record.connections
    async with open_browser(extra_args=_force_quic(server)) as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        firsts = await page.evaluate(STREAMS, {"url": server.url, "n": n, "wait": wait_ms})
    return {"firsts": firsts, "connections": server.record.connections - before}
