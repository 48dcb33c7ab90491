"""The fallback load balancer: a small TCP relay in Python, for machines without nginx (lesson 09).

``python -m servers.balancer --port P --upstream 127.0.0.1:8001 --upstream 127.0.0.1:8002``
accepts TCP connections and relays each, byte for byte, to one upstream: the next one in turn
(round-robin), or with ``--sticky`` the one the client's IP address hashes to. An upstream that
refuses the connection is skipped, as nginx's ``proxy_next_upstream error`` does, but only for
that connection: unlike nginx (``max_fails=1 fail_timeout=10s`` by default), it does not
remember the refusal, so the next connection in turn tries that upstream again. With
``--idle-timeout S`` it closes a connection nothing has crossed for S seconds, as a proxy's
read timeout does.

It balances at layer 4: it sees connections, not HTTP requests, so it cannot read a header or
a cookie, and every request sent on one keep-alive connection goes to the same upstream.
``Balancer(upstreams)`` runs it as a process tied to the kernel (``servers.tether``), with the
same ``url``/``start``/``stop`` as ``lab.nginx.Nginx``; ``front(...)`` picks nginx when it is
installed and this otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys

from lab.timing import scaled
from servers.runtime import accepts_connections, free_port
from servers.tether import Service

PROXY = """location / {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_read_timeout 1h;
    proxy_buffering off;
}"""
"""The location block lesson 09 ends with: WebSockets and SSE both work through it."""


class Balancer(Service):
    """The Python TCP balancer as a process tied to the kernel; labelled as the fallback."""

    kind = "Python TCP balancer (fallback: nginx is not installed)"

    def __init__(
        self,
        upstreams: list[str],
        *,
        sticky: bool = False,
        idle_timeout: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(free_port(), name)
        self.upstreams, self.sticky, self.idle_timeout = list(upstreams), sticky, idle_timeout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        command = [sys.executable, "-m", "servers.balancer", "--port", str(self.port)]
        command += [part for u in self.upstreams for part in ("--upstream", u)]
        command += ["--sticky"] if self.sticky else []
        if self.idle_timeout is not None:
            command += ["--idle-timeout", str(self.idle_timeout)]
        return self._launch(
            command,
            lambda: accepts_connections(self.port),
            what="the balancer",
            timeout=scaled(10),
        )

    def __repr__(self) -> str:
        mode = "sticky by client address" if self.sticky else "round-robin"
        return f"<Balancer {self.url} → {', '.join(self.upstreams)}, {mode}>"


def front(
    upstreams: list[str],
    *,
    location: str = PROXY,
    balance: str = "",
    server: str = "",
    name: str | None = None,
):
    """A started balancer in front of ``upstreams``: nginx with this ``location`` and
    ``balance`` when nginx is installed, else the Python fallback (sticky when ``balance``
    asks for any hashing, with an idle timeout when ``server`` or ``location`` sets
    ``proxy_read_timeout``). ``.kind`` says which it is. In CI (``lab.system.in_ci()``) a
    missing nginx raises ``RuntimeError`` instead: no lesson may pass CI on the fallback."""
    from lab.nginx import Nginx
    from lab.system import INSTALL_HINTS, find_tool, in_ci

    if find_tool("nginx") is not None:
        nginx = Nginx(location, upstreams, balance=balance, server=server, name=name)
        nginx.kind = "nginx"
        return nginx.start()
    if in_ci():
        raise RuntimeError(
            f"nginx is not installed ({INSTALL_HINTS['nginx']}), and CI must run lesson 09 on "
            "the real thing, not on the Python fallback balancer"
        )
    import re

    timeout = re.search(r"proxy_read_timeout\s+(\d+)(ms|s|m|h)?\s*;", location + server)
    seconds = None
    if timeout:
        unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[timeout.group(2) or "s"]
        seconds = int(timeout.group(1)) * unit
    return Balancer(
        upstreams,
        sticky="hash" in balance,
        idle_timeout=seconds,
        name=name,
    ).start()


# --- the balancer process ---------------------------------------------------------------------


def choose(upstreams: list[str], turn: int, client_ip: str, sticky: bool) -> list[str]:
    """The upstreams to try, in order: from the next in turn, or from the one ``client_ip``
    hashes to."""
    hashed = int.from_bytes(hashlib.sha1(client_ip.encode()).digest()[:4], "big")
    start = hashed if sticky else turn
    return [upstreams[(start + k) % len(upstreams)] for k in range(len(upstreams))]


async def serve_balancer(
    port: int, upstreams: list[str], *, sticky: bool = False, idle_timeout: float | None = None
) -> asyncio.Server:
    """Listen on 127.0.0.1:``port`` and relay each connection to one of ``upstreams``."""
    turn = 0

    async def relay(client_reader, client_writer) -> None:
        nonlocal turn
        client_ip = client_writer.get_extra_info("peername")[0]
        order, turn = choose(upstreams, turn, client_ip, sticky), turn + 1
        upstream_writer = None
        try:
            for address in order:
                host, _, upstream_port = address.rpartition(":")
                try:
                    upstream_reader, upstream_writer = await asyncio.open_connection(
                        host, int(upstream_port)
                    )
                    break
                except OSError:
                    continue  # refused: try the next upstream
            else:
                return
            moved = asyncio.Event()
            pumps = [
                asyncio.ensure_future(_pump(client_reader, upstream_writer, moved)),
                asyncio.ensure_future(_pump(upstream_reader, client_writer, moved)),
            ]
            if idle_timeout is not None:
                pumps.append(asyncio.ensure_future(_watch_idle(moved, idle_timeout)))
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()

    return await asyncio.start_server(relay, "127.0.0.1", port, backlog=1024)


async def _pump(reader, writer, moved: asyncio.Event) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            moved.set()
            writer.write(data)
            await writer.drain()


async def _watch_idle(moved: asyncio.Event, seconds: float) -> None:
    while True:
        moved.clear()
        try:
            await asyncio.wait_for(moved.wait(), seconds)
        except TimeoutError:
            return


async def _main(args: argparse.Namespace) -> None:
    server = await serve_balancer(
        args.port, args.upstream, sticky=args.sticky, idle_timeout=args.idle_timeout
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True)
    parser.add_argument("--sticky", action="store_true")
    parser.add_argument("--idle-timeout", type=float, default=None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))
