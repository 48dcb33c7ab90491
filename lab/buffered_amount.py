"""A browser's ``WebSocket.bufferedAmount`` while the server reads slowly (lesson 11
introduces it).

``serve_slow_reader()`` starts a ``websockets`` server whose handler reads one message, then
sleeps ``pause`` seconds, with ``max_queue=1``: the library stops reading the socket while a
message waits, so the kernel's buffers fill and TCP tells the browser to wait. Its listening
socket's receive buffer is fixed at ``rcvbuf`` (the accepted sockets inherit it), so that
happens after kilobytes, not megabytes.

``page_script(url, mode)`` is the page's JavaScript: it opens the socket and, for
``seconds``, sends 64 KiB messages — ``"flood"``: as many as it likes every tick;
``"polite"``: only while ``bufferedAmount`` is below ``threshold`` — sampling
``bufferedAmount`` every 50 ms. ``measure(page, url, mode)`` runs it in a Playwright page and
returns the samples and counts (``Trace``).
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass

from servers import lifecycle, runtime

MESSAGE = 65_536
THRESHOLD = 262_144


class SlowReader:
    """The running server (kept in ``servers.lifecycle``): ``.url``, ``.received``, ``.stop()``."""

    def __init__(self, *, pause: float, rcvbuf: int, max_queue: int) -> None:
        self.received = 0
        self.pause = pause
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.port = listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self._server = runtime.run(self._start(listener, max_queue), timeout=10)
        lifecycle.keep(self)

    async def _start(self, listener: socket.socket, max_queue: int):
        from websockets.asyncio.server import serve

        return await serve(
            self._handler,
            sock=listener,
            max_queue=max_queue,
            max_size=None,
            compression=None,
            close_timeout=0.2,
        )

    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for _ in ws:
                self.received += 1
                await asyncio.sleep(self.pause)
        except ConnectionClosed:
            pass  # the page closed with messages still on their way

    def stop(self) -> None:
        lifecycle.forget(self)
        if self._server is not None:
            server, self._server = self._server, None

            async def close() -> None:
                server.close()
                await server.wait_closed()

            runtime.run(close(), timeout=10)


def serve_slow_reader(*, pause: float = 0.05, rcvbuf: int = 65_536, max_queue: int = 1):
    return SlowReader(pause=pause, rcvbuf=rcvbuf, max_queue=max_queue)


SCRIPT = """async ({url, mode, seconds, threshold, size}) => {
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  const message = new Uint8Array(size);
  const samples = [];
  let sent = 0;
  const start = performance.now();
  const sample = () => samples.push([performance.now() - start, ws.bufferedAmount]);
  const sampler = setInterval(sample, 50);
  while (performance.now() - start < seconds * 1000) {
    if (mode === "flood") {
      for (let i = 0; i < 8; i++) { ws.send(message); sent++; }
    } else {
      while (ws.bufferedAmount < threshold) { ws.send(message); sent++; }
    }
    await new Promise(r => setTimeout(r, 10));
  }
  clearInterval(sampler);
  sample();
  ws.close(1000, "done");
  return {samples, sent, eventSourceHasBufferedAmount: "bufferedAmount" in EventSource.prototype,
          webSocketHasBufferedAmount: "bufferedAmount" in WebSocket.prototype};
}"""


@dataclass(frozen=True)
class Trace:
    mode: str
    samples: list[tuple[float, int]]
    """``(ms since the first send, bufferedAmount in bytes)``."""
    sent: int
    event_source_has_it: bool
    web_socket_has_it: bool

    @property
    def peak(self) -> int:
        return max(b for _, b in self.samples)


async def measure(
    page, url: str, mode: str, *, seconds: float = 1.0, threshold: int = THRESHOLD
) -> Trace:
    """Run the page script in ``page`` (a Playwright page) and return what it saw."""
    if mode not in ("flood", "polite"):
        raise ValueError(f"mode is flood or polite, not {mode!r}")
    result = await page.evaluate(
        SCRIPT,
        {"url": url, "mode": mode, "seconds": seconds, "threshold": threshold, "size": MESSAGE},
    )
    return Trace(
        mode,
        [tuple(s) for s in result["samples"]],
        result["sent"],
        result["eventSourceHasBufferedAmount"],
        result["webSocketHasBufferedAmount"],
    )


def describe(trace: Trace) -> str:
    return json.dumps({"mode": trace.mode, "sent": trace.sent, "peak": trace.peak})
