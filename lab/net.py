"""Who is listening: the sockets this process accepts connections on (lesson 00)."""

from __future__ import annotations

import ipaddress

import psutil


def listening_sockets() -> list[tuple[str, int]]:
    """``(address, port)`` of every TCP socket this process listens on, sorted by port."""
    sockets = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    return sorted(sockets, key=lambda s: (s[1], s[0]))


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1: reachable from this machine only."""
    return ipaddress.ip_address(address.split("%")[0]).is_loopback
