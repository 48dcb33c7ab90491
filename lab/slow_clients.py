"""Fast clients and slow ones, together, in a separate process (lesson 11 introduces it).

``Crowd(url, fast=20, slow=[Slow("sse", "stalled"), ...])`` starts, in one child process,
``fast`` SSE readers and ``fast`` WebSocket readers (``lab.clients``: they read every post as
it comes and record its arrival) and the slow clients, each on a raw socket whose receive
buffer is fixed small (``lab.socket_buffers.small_receiver``), like a phone on a bad link:

- ``"stalled"``: connects, sends its request, and never reads a byte;
- ``"sleepy"``: reads ``read_size`` bytes, sleeps ``pause`` seconds, and so on; it parses what
  it reads (``servers.sse.EventParser``, ``servers.rfc6455.split_frames``), so it can say which
  posts it got, which ``gap`` notices, and how its connection ended.

The SSE slow clients ask in HTTP/1.0, so the body is the bare event stream (no chunked
encoding to undo) and its end is the connection's end. In a cell::

    with Crowd(server.url, fast=20, slow=[Slow("sse", "stalled")]) as crowd:
        ...publish posts...
        crowd.wait_for(feed.last_id, give_up=2.0)   # until every fast client has the last
    crowd.results.fast_latencies(...)

The child is killed if the kernel exits first (``lab.child_process``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from lab.child_process import ChildRun
from servers.limits import raise_open_file_limit
from servers.timing import scaled


@dataclass
class Slow:
    """One slow client: ``kind`` "sse" or "ws", ``mode`` "stalled" or "sleepy"."""

    kind: str
    mode: str
    rcvbuf: int = 16384
    read_size: int = 4096
    pause: float = 0.05


@dataclass
class SlowLog:
    """What one slow client saw."""

    kind: str
    mode: str
    ids: list[int] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    bytes_read: int = 0
    ended: bool = False
    """The server ended the stream (EOF, or a WebSocket close frame)."""
    close_code: int | None = None
    unread: int = 0
    """Bytes in its kernel receive queue, unread, when it stopped (``SIOCINQ``)."""


@dataclass
class CrowdResults:
    fast: dict[str, list[dict]]
    """Per kind ("sse", "ws"): each fast client's ``ClientLog.to_json()``."""
    slow: list[SlowLog]
    stopped_at: float
    twin: dict[str, list[dict]] | None = None
    """The same for the fast clients of the twin server, if there was one."""

    def latencies(self, kind: str, published: list[dict], *, twin: bool = False) -> list[float]:
        """Seconds from publish to arrival at the ``kind`` fast clients (of the twin, with
        ``twin``), one per post and client; a post a client never got counts as arriving
        when the clients stopped (so the figure is a lower bound on a delay not yet over)."""
        values = []
        for log in (self.twin if twin else self.fast)[kind]:
            got = {post_id: received for post_id, _, received in log["arrivals"]}
            for post in published:
                values.append(got.get(post["id"], self.stopped_at) - post["ts"])
        return values

    def delivered_share(self, kind: str, published: list[dict]) -> float:
        wanted = {p["id"] for p in published}
        got = sum(len(wanted & {a[0] for a in log["arrivals"]}) for log in self.fast[kind])
        return got / (len(wanted) * len(self.fast[kind])) if wanted else float("nan")


class Crowd(ChildRun):
    """Start the clients in a child process on enter; stop them and collect results on exit."""

    module, what = "lab.slow_clients", "the clients' process"

    def __init__(
        self,
        url: str,
        *,
        fast: int = 20,
        slow: list[Slow] = (),
        since: int = 0,
        twin: str | None = None,
    ) -> None:
        """``twin``: a second server's URL that gets ``fast`` fast clients of its own (and no
        slow one), read by the same process at the same time."""
        slow = [asdict(s) for s in slow]
        self.spec = {"url": url, "fast": fast, "slow": slow, "since": since, "twin": twin}
        self.connections = 2 * fast + len(slow)
        """Connections to ``url`` (the twin gets ``2 * fast`` more)."""
        self.results: CrowdResults | None = None

    def progress(self) -> tuple[int, int]:
        """The newest post id every fast client has received, and every sleepy slow one (a
        slow client whose stream ended counts as done)."""
        self._child.send("progress")
        _, fast, slow = self._child.expect("progress ", scaled(30)).split()
        return int(fast), int(slow)

    def wait_for(self, post_id: int, *, give_up: float, slow: bool = False) -> bool:
        """Until every fast client (and with ``slow``, every sleepy one) has post ``post_id``,
        or ``scaled(give_up)`` seconds have passed (a design that starves its fast clients
        never gets there); True if they did."""
        deadline = time.monotonic() + scaled(give_up)
        while min(self.progress()[: 2 if slow else 1]) < post_id:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> CrowdResults:
        self._child.send("stop")
        payload = json.loads(self._child.expect("{", scaled(60)))
        self._child.finish(scaled(10))
        slow = [SlowLog(**log) for log in payload["slow"]]
        return CrowdResults(payload["fast"], slow, payload["stopped_at"], payload["twin"])


# --- the child process -----------------------------------------------------------------------


def request_bytes(kind: str, host: str, port: int) -> bytes:
    """The request a slow client sends: SSE in HTTP/1.0, or a WebSocket handshake."""
    if kind == "sse":
        head = f"GET /events HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        return (head + "\r\n").encode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class SlowReader:
    """Turns the bytes a slow client reads into posts, gap notices and a close code."""

    def __init__(self, log: SlowLog) -> None:
        from servers.sse import EventParser

        self.log, self.head, self.body = log, b"", b""
        self.parser = EventParser() if log.kind == "sse" else None

    def feed(self, data: bytes) -> None:
        from servers.rfc6455 import split_frames

        self.log.bytes_read += len(data)
        if b"\r\n\r\n" not in self.head:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            self.head, _, data = self.head.partition(b"\r\n\r\n")
            self.head += b"\r\n\r\n"
        if self.parser is not None:
            for event in self.parser.feed(data):
                self._message(event.type, event.data)
            return
        frames, self.body = split_frames(self.body + data)
        for frame in frames:
            if frame.opcode == 0x8:
                self.log.ended = True
                self.log.close_code = int.from_bytes(frame.payload[:2], "big") or None
            elif frame.opcode == 0x1:
                message = json.loads(frame.payload)
                if "gap" in message:
                    self._message("gap", json.dumps(message["gap"]))
                else:
                    self._message("message", frame.payload.decode())

    def _message(self, kind: str, data: str) -> None:
        if kind == "gap":
            self.log.gaps.append(json.loads(data))
        elif kind == "message":
            self.log.ids.append(json.loads(data)["id"])


async def _slow_client(spec: dict, host: str, port: int, stop: asyncio.Event, log: SlowLog):
    from lab.socket_buffers import inq, small_receiver

    loop = asyncio.get_running_loop()
    sock = small_receiver(spec["rcvbuf"])
    try:
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, request_bytes(spec["kind"], host, port))
        if spec["mode"] == "stalled":
            await stop.wait()
            return
        reader = SlowReader(log)
        while not stop.is_set():
            data = await _until(loop.sock_recv(sock, spec["read_size"]), stop)
            if data is None:
                return
            if not data:
                log.ended = True
                return
            reader.feed(data)
            if log.close_code is not None:
                return
            await _until(asyncio.sleep(spec["pause"]), stop)
    except ConnectionError:
        log.ended = True
    finally:
        with contextlib.suppress(OSError):
            log.unread = inq(sock)
        sock.close()


async def _until(awaitable, stop: asyncio.Event):
    """``awaitable``'s result, or ``None`` if ``stop`` is set first."""
    task, stopped = asyncio.ensure_future(awaitable), asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


async def _run(spec: dict) -> dict:
    import aiohttp

    from lab.clients import ClientLog, sse_listen, ws_listen

    target = urlsplit(spec["url"])
    stop = asyncio.Event()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    urls = [spec["url"]] + ([spec["twin"]] if spec["twin"] else [])
    fast = [
        {kind: [ClientLog() for _ in range(spec["fast"])] for kind in ("sse", "ws")} for _ in urls
    ]
    listen = {"sse": sse_listen, "ws": ws_listen}
    tasks = [
        asyncio.ensure_future(
            listen[kind](
                session, url, stop=stop, log=log, since=spec["since"], reconnect_delay=0.05
            )
        )
        for url, of_url in zip(urls, fast, strict=True)
        for kind, logs in of_url.items()
        for log in logs
    ]
    slow = [SlowLog(s["kind"], s["mode"]) for s in spec["slow"]]
    tasks += [
        asyncio.ensure_future(_slow_client(s, target.hostname, target.port, stop, log))
        for s, log in zip(spec["slow"], slow, strict=True)
    ]
    logs = [log for of_url in fast for kind_logs in of_url.values() for log in kind_logs]
    while any(log.requests == 0 for log in logs):
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline) == "progress\n":
        sleepy = [log for log in slow if log.mode == "sleepy"]
        done = min(
            (1 << 60 if log.ended else log.ids[-1] if log.ids else 0 for log in sleepy),
            default=1 << 60,
        )
        print(f"progress {min((log.last_id for log in logs), default=1 << 60)} {done}", flush=True)
    stopped_at = time.time()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    return {
        "fast": _logs(fast[0]),
        "twin": _logs(fast[1]) if len(fast) > 1 else None,
        "slow": [asdict(log) for log in slow],
        "stopped_at": stopped_at,
    }


def _logs(of_url: dict) -> dict:
    return {kind: [log.to_json() for log in logs] for kind, logs in of_url.items()}


if __name__ == "__main__":
    raise_open_file_limit()
    print(json.dumps(asyncio.run(_run(json.loads(sys.argv[1])))), flush=True)
