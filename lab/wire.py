"""Exact bytes on the wire: one HTTP exchange over a raw socket (lesson 01)."""

from __future__ import annotations

import socket


def http_exchange(host: str, port: int, request: str, timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Send ``request`` (CRLF line ends added) and read until the server closes.

    Returns ``(request bytes, response bytes)``. Ask with ``Connection: close`` so the server
    closes when its answer is complete.
    """
    raw = request.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return raw, b"".join(chunks)


def show(raw: bytes, arrow: str) -> None:
    """Print raw HTTP bytes line by line, CRLF made visible, with their total size."""
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        print(f"{arrow} {line.decode('latin-1')}\\r\\n")
    print(f"{arrow} \\r\\n")
    if body:
        print(f"{arrow} {body.decode('utf-8', 'replace')}")
    print(f"   ({len(head) + 4} bytes of start line and headers, {len(body)} of body)")


def header(raw: bytes, name: str) -> str | None:
    """The value of header ``name`` in a raw HTTP message, or ``None``."""
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None
