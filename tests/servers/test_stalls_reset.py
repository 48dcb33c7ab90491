"""servers.stalls.reset: a let-go connection that closed within the grace is left alone."""

from __future__ import annotations

import asyncio
import socket

from servers.stalls import let_go


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
