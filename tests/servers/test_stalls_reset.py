"""servers.stalls.let_go and reset: a let-go connection that closed within the grace is left
alone, and one whose close completed at once leaves no orphan in the kernel (lesson 11)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from pathlib import Path

import pytest

from servers.stalls import kernel_unsent, let_go
from servers.timing import scaled


def test_a_connection_that_closed_within_the_grace_is_not_reset_again():
    errors = []

    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        accepted = asyncio.get_running_loop().create_future()

        async def on_client(reader, writer):
            accepted.set_result(writer)

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        client = socket.create_connection(server.sockets[0].getsockname()[:2])
        writer = await accepted
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        writer.transport.write(b"x" * 1_000_000)  # more than the kernel takes: left in asyncio
        let_go(writer.transport, b"bye", grace=0.2)
        client.setblocking(False)
        while True:  # the client reads everything: the close completes within the grace
            try:
                if not await loop.sock_recv(client, 65536):
                    break
            except ConnectionResetError:
                break
        client.close()
        await asyncio.sleep(0.4)  # the grace runs out
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
    assert errors == []


def _server_side_states(port: int) -> list[str]:
    """The TCP states (``/proc/net/tcp``'s hex codes) of the connections whose local port is
    ``port``, the listener (0A) left out."""
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] != "0A":
            states.append(fields[3])
    return states


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
def test_a_let_go_connection_whose_bytes_all_wait_in_the_kernel_leaves_no_orphan():
    """Every unsent byte in the kernel and none in asyncio: the transport's close is immediate,
    so the grace's reset finds nothing to reset. Mutant: without ``TCP_USER_TIMEOUT`` the
    kernel keeps the orphan in FIN-WAIT-1 (04), probing the stuck peer, for minutes."""

    async def scenario():
        accepted = asyncio.get_running_loop().create_future()
        server = await asyncio.start_server(
            lambda _reader, writer: accepted.set_result(writer), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        client = socket.socket()  # it never reads
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        writer = await accepted
        raw = socket.socket(fileno=os.dup(writer.get_extra_info("socket").fileno()))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        raw.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:  # straight into the kernel, past asyncio: its buffer stays empty
                raw.send(b"x" * 1024)
        raw.close()
        assert writer.transport.get_write_buffer_size() == 0 and kernel_unsent(writer.transport)
        let_go(writer.transport, grace=0.5)
        deadline = time.monotonic() + scaled(20)
        while _server_side_states(port) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        left = _server_side_states(port)
        client.close()
        server.close()
        await server.wait_closed()
        return left

    assert asyncio.run(scenario()) == []
