"""WebTransport in Chromium beside a WebSocket, timed from one page (lesson 13).

``webtransport_and_websocket(page_url, wt, ws_url)`` opens a page (a loopback ``http://``
origin, a secure context), a ``WebTransport`` session to the aioquic server ``wt``
(``servers.http3``; its certificate pinned by hash with ``serverCertificateHashes``) and a
``WebSocket`` to an echo, then times round trips on the session's bidirectional stream, as
datagrams and on the WebSocket in alternated rounds (each sample: the mean of ``batch``
sequential round trips, since a page's clock is coarsened to 0.1 ms). Last it sends a burst of
datagrams without waiting and counts what came back, and in what order. The result's
``comparison`` is a ``lab.roundtrips.Comparison`` with the WebSocket as the floor.
"""

from __future__ import annotations

from lab.browser import open_browser
from lab.roundtrips import Comparison

BURST_SIZE = 1000
"""Bytes in each datagram of the burst (the timed ones carry 32), so the server can tell them
apart."""

PAGE_SCRIPT = """async ({wtUrl, hash, wsUrl, rounds, perRound, batch, burst, burstSize, wait,
         warmup}) => {
  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
  const out = {rounds: {"WebSocket": [], "WebTransport stream": [], "WebTransport datagram": []}};
  const transport = new WebTransport(wtUrl, {
    serverCertificateHashes: [{algorithm: "sha-256", value: new Uint8Array(hash)}]});
  try {
    await Promise.race([transport.ready, sleep(wait).then(() => { throw new Error(
      "WebTransport session not ready within " + wait + " ms"); })]);
  } catch (error) { out.error = String(error); return out; }
  const stream = await transport.createBidirectionalStream();
  const writer = stream.writable.getWriter(), reader = stream.readable.getReader();
  const dgramWriter = transport.datagrams.writable.getWriter();
  const dgramReader = transport.datagrams.readable.getReader();
  const ws = new WebSocket(wsUrl);
  await new Promise((ok, no) => { ws.onopen = ok; ws.onerror = () => no(new Error("ws")); });
  const wsNext = () => new Promise(ok => { ws.onmessage = e => ok(e.data); });
  const message = new Uint8Array(32);
  let sequence = 0, nextRead = null;
  out.timedLost = 0;
  const readDatagram = () =>  // one read in flight at a time, even across a timeout
    nextRead ??= dgramReader.read().then(got => { nextRead = null; return got; });
  const exchanges = {
    "WebSocket": async () => { const got = wsNext(); ws.send("x".repeat(32)); await got; },
    "WebTransport stream": async () => {
      await writer.write(message);
      let seen = 0;
      while (seen < message.length) seen += (await reader.read()).value.length;
    },
    "WebTransport datagram": async () => {  // a lost one is counted, not waited for forever
      const sent = ++sequence;
      new DataView(message.buffer).setUint32(0, sent);
      await dgramWriter.write(message);
      while (true) {
        const got = await Promise.race([readDatagram(), sleep(wait / 5).then(() => null)]);
        if (got === null) { out.timedLost++; return; }
        if (new DataView(got.value.buffer, got.value.byteOffset).getUint32(0) === sent) return;
      }
    },
  };
  const names = Object.keys(exchanges);
  for (const name of names) for (let i = 0; i < warmup; i++) await exchanges[name]();
  for (let r = 0; r < rounds; r++) {
    const order = names.slice(r % names.length).concat(names.slice(0, r % names.length));
    for (const name of order) {
      const samples = [];
      for (let s = 0; s < perRound; s++) {
        const started = performance.now();
        for (let b = 0; b < batch; b++) await exchanges[name]();
        samples.push((performance.now() - started) / batch / 1000);
      }
      out.rounds[name].push(samples);
    }
  }
  const back = [];
  (async () => {
    while (true) {
      const {value, done} = await readDatagram();
      if (done) return;
      if (value.length !== burstSize) continue;  // a timed echo that came back late
      back.push(new DataView(value.buffer, value.byteOffset).getUint32(0));
    }
  })();
  for (let k = 0; k < burst; k++) {
    const datagram = new Uint8Array(burstSize);
    new DataView(datagram.buffer).setUint32(0, k);
    dgramWriter.write(datagram);  // not awaited: a burst
  }
  await sleep(wait / 5);
  out.burst = {sent: burst, back: back.length, timedLost: out.timedLost,
               inOrder: back.every((v, i) => i === 0 || v > back[i - 1])};
  ws.close();
  transport.close();
  return out;
}"""


async def webtransport_and_websocket(
    page_url: str, wt, ws_url: str, *, rounds: int = 4, per_round: int = 10, batch: int = 10,
    burst: int = 2000, wait_ms: float = 5000, warmup: int = 20,
) -> dict:
    """``{"comparison": Comparison | None, "burst": {"sent", "reached_server", "back",
    "inOrder", "timedLost"}, "error": str | None}`` from one headless Chromium page; a timed
    datagram whose echo has not come back within ``wait_ms`` / 5 is counted in ``timedLost``
    (its round trip is then the wait, not a hang)."""
    burst_before = wt.record.datagram_sizes[BURST_SIZE]
    async with open_browser() as browser:
        page = await browser.new_page()
        await page.goto(page_url)
        out = await page.evaluate(
            PAGE_SCRIPT,
            {
                "wtUrl": wt.url + "/wt", "hash": list(wt.certificate_hash), "wsUrl": ws_url,
                "rounds": rounds, "perRound": per_round, "batch": batch, "burst": burst,
                "wait": wait_ms, "warmup": warmup, "burstSize": BURST_SIZE,
            },
        )
    if out.get("error"):
        return {"comparison": None, "burst": None, "error": out["error"]}
    comparison = Comparison(floor="WebSocket", rounds=out["rounds"])
    reached = wt.record.datagram_sizes[BURST_SIZE] - burst_before
    return {"comparison": comparison, "burst": {**out["burst"], "reached_server": reached},
            "error": None}
