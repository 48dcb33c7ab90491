"""Raw streaming clients: many open HTTP responses from one thread, without a library."""

from __future__ import annotations

import socket


def open_streams(host: str, port: int, path: str, count: int, timeout: float = 10) -> list:
    """Open ``count`` connections, send ``GET path`` on each, return them once all answered."""
    sockets = []
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.sendall(request)
        sockets.append(sock)
    for sock in sockets:
        if not sock.recv(4096).startswith(b"HTTP/1.1 200"):
            raise ConnectionError(f"GET {path} was not answered 200")
    return sockets


def read_to_end(sock: socket.socket) -> int:
    """Read until the server closes the connection; return the bytes read."""
    total = 0
    with sock:
        while chunk := sock.recv(65536):
            total += len(chunk)
    return total
