"""Stalled clients on raw sockets, in this process (lesson 11 introduces them).

``stalled_client(port, "sse")`` (or ``"ws"``) connects to a feed server on loopback, sends an
``/events`` request (or a WebSocket handshake for ``/ws``) and then never reads a byte: a
phone in a tunnel, as the server sees it. ``closed_by_server(sock)`` says whether the server
has ended that connection, read from the client's TCP state (``TCP_INFO``) so that asking
does not read from the socket (which would un-stall it).
"""

from __future__ import annotations

import base64
import os
import socket

TCP_CLOSED_STATES = {7, 8}
"""``TCP_CLOSE`` (the server reset the connection) and ``TCP_CLOSE_WAIT`` (it sent its FIN),
as ``linux/tcp_states.h`` numbers them."""


def stalled_client(port: int, kind: str, last_event_id: int | None = None) -> socket.socket:
    """A socket that has sent an ``/events`` request (``kind`` "sse", with ``Last-Event-ID``
    when given) or a ``/ws`` handshake ("ws") to ``127.0.0.1:port``, and will never read."""
    sock = socket.create_connection(("127.0.0.1", port))
    if kind == "sse":
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: feed\r\n{resume}\r\n".encode())
    elif kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: feed\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
    else:
        sock.close()
        raise ValueError(f'kind must be "sse" or "ws", got {kind!r}')
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed or reset this connection (Linux ``TCP_INFO``'s state)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in TCP_CLOSED_STATES
