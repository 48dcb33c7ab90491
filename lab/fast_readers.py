"""Many stream readers that cost as little as possible while they read (lesson 11).

A fan-out's latency is only the server's when the clients keep up: a thousand ``aiohttp``
clients in one Python process, each parsing every event as it comes (``lab.loadgen``), need
a few hundred milliseconds per post on a busy 2-core machine, and then the figure measures
them. ``FastReaders(url, "sse", 1000)`` opens the streams from a separate process on plain
sockets and, while the posts come, only ``recv``s and notes when each chunk arrived; it
parses afterwards (``servers.sse.EventParser``, ``servers.rfc6455.decode_frame``), so each
post's arrival is the moment the chunk that completed it was read. SSE is asked in HTTP/1.0
(a bare event stream, no chunked encoding); WebSockets with a plain handshake. In a cell::

    with FastReaders(server.url, "sse", 1000) as readers:
        ...wait until the server holds them all, publish...
        readers.expect(ids[-1])   # on leaving, read on until every reader has this post
    readers.results   # per client, [(post id, published ts, arrived), ...]
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from servers import lifecycle
from servers.limits import raise_open_file_limit
from servers.rfc6455.codec import TEXT, decode_frame
from servers.sse import EventParser
from servers.timing import scaled


class _Child:
    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def stop(self) -> None:
        lifecycle.forget(self)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class FastReaders:
    """``clients`` readers of ``kind`` ("sse" or "ws") in a child process, for a ``with``."""

    def __init__(self, url: str, kind: str, clients: int) -> None:
        if kind not in ("sse", "ws"):
            raise ValueError(f'kind must be "sse" or "ws", got {kind!r}')
        self.url, self.kind, self.clients = url, kind, clients
        self.results: list[list[tuple[int, float, float]]] | None = None
        self.until = 0

    def expect(self, post_id: int) -> None:
        """On leaving the ``with`` block, read on (up to 30 s, scaled) until every reader has
        post ``post_id``."""
        self.until = post_id

    def __enter__(self) -> FastReaders:
        raise_open_file_limit()
        target = urlsplit(self.url)
        spec = json.dumps([target.hostname, target.port, self.kind, self.clients])
        self._process = subprocess.Popen(
            [sys.executable, "-m", "lab.fast_readers", spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._child = lifecycle.keep(_Child(self._process))
        self._expect("ready", scaled(60))
        return self

    def __exit__(self, exc_type, *rest: object) -> None:
        if exc_type is not None:
            self._child.stop()
            return
        self._process.stdin.write(f"stop {self.until}\n")
        self._process.stdin.flush()
        self.results = [[tuple(a) for a in c] for c in json.loads(self._expect("[", scaled(60)))]
        self._process.wait(timeout=scaled(10))
        lifecycle.forget(self._child)

    def received_ids(self) -> list[list[int]]:
        return [[post_id for post_id, _, _ in client] for client in self.results]

    def latencies(self) -> list[float]:
        """Seconds from publish to arrival, for every post at every reader."""
        return [arrived - ts for client in self.results for _, ts, arrived in client]

    def _expect(self, prefix: str, timeout: float) -> str:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith(prefix):
            self._child.stop()
            raise RuntimeError(f"the fast readers failed: {line!r}\n{self._process.stderr.read()}")
        return line[0]


def _request(kind: str, host: str) -> bytes:
    if kind == "sse":
        return f"GET /events HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _posts(kind: str, chunks: list[tuple[float, bytes]]) -> list[tuple[int, float, float]]:
    """The posts in one reader's chunks, each with the time its last byte arrived."""
    arrivals, head, parser, frames = [], b"", EventParser(), b""
    for arrived, data in chunks:
        if head is not None:
            head += data
            if b"\r\n\r\n" not in head:
                continue
            head, data = None, head.split(b"\r\n\r\n", 1)[1]
        if kind == "sse":
            texts = [event.data for event in parser.feed(data) if event.type == "message"]
        else:
            frames, texts = frames + data, []
            while (decoded := decode_frame(frames)) is not None:
                frame, used = decoded
                frames = frames[used:]
                if frame.opcode == TEXT:
                    texts.append(frame.payload.decode())
        for text in texts:
            post = json.loads(text)
            arrivals.append((post["id"], post["ts"], arrived))
    return arrivals


def _read(host: str, port: int, kind: str, clients: int) -> list:
    selector, chunks = selectors.DefaultSelector(), {}
    for _ in range(clients):
        sock = socket.create_connection((host, port))
        sock.sendall(_request(kind, host))
        sock.setblocking(False)
        chunks[sock] = []
        selector.register(sock, selectors.EVENT_READ)
    print("ready", flush=True)
    stop, until = threading.Event(), []

    def wait_for_stop() -> None:
        until.append(int(sys.stdin.readline().split()[1]))
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    deadline = None
    while True:
        if stop.is_set():
            deadline = deadline or time.monotonic() + scaled(30)
            parsed = [_posts(kind, received) for received in chunks.values()]
            if (
                time.monotonic() > deadline
                or all(posts and posts[-1][0] >= until[0] for posts in parsed)
                or not until[0]
            ):
                return parsed
        for key, _ in selector.select(0.1):
            try:
                data = key.fileobj.recv(1 << 16)
            except (BlockingIOError, ConnectionError):
                continue
            if not data:
                selector.unregister(key.fileobj)
                continue
            chunks[key.fileobj].append((time.time(), data))


if __name__ == "__main__":
    raise_open_file_limit()
    print(json.dumps(_read(*json.loads(sys.argv[1]))), flush=True)
