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
same ``url``/``start``/``stop`` as ``servers.nginx.Nginx``; the lesson's ``lab.front.front(...)``
picks nginx when it is there and this otherwise. The relaying is ``servers.relay``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys

from servers.relay import relay
from servers.runtime import accepts_connections, free_port
from servers.tether import Service
from servers.timing import scaled


class Balancer(Service):
    """The Python TCP balancer as a process tied to the kernel; labelled as the fallback."""

    kind = "Python TCP balancer (the fallback for nginx)"

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

    async def balance(client_reader, client_writer) -> None:
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
            await relay(
                (client_reader, client_writer),
                (upstream_reader, upstream_writer),
                idle_timeout=idle_timeout,
            )
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()

    return await asyncio.start_server(balance, "127.0.0.1", port, backlog=1024)


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
