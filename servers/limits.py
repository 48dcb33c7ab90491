"""The open-file limit: every socket is a file, and a laptop's default allows few (lesson 08).

A process may open at most ``RLIMIT_NOFILE`` files, sockets included. The *soft* limit is the
one in force; a process may raise it up to the *hard* limit without privileges (POSIX
``setrlimit``). Machines ship a low soft limit (macOS 256, many Linux desktops 1024) under a
far higher hard one, and a thousand clients need a thousand sockets at the server and three
thousand in the load generator (each client's socket, and the byte meter's two relayed ends).
So every process that opens many sockets calls ``raise_open_file_limit()`` first, and a
caller that still cannot afford its client counts scales them down with ``affordable()``.
"""

from __future__ import annotations

try:
    import resource
except ImportError:  # Windows: no such limit to raise
    resource = None

MACOS_OPEN_MAX = 10240
"""macOS refuses a soft limit above ``OPEN_MAX`` even under an unlimited hard limit."""

RESERVE = 64
"""Files a process keeps for everything but the clients' sockets (modules, pipes, the loop)."""


def open_file_limit() -> tuple[int, int]:
    """``(soft, hard)``; a limit the system does not set counts as unlimited (a large number)."""
    if resource is None:
        return (1 << 20, 1 << 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = 1 << 20
    return (
        unlimited if soft == resource.RLIM_INFINITY else soft,
        unlimited if hard == resource.RLIM_INFINITY else hard,
    )


def raise_open_file_limit() -> int:
    """Raise this process's soft limit to the hard one (or as near as the system allows);
    return the soft limit now in force. Never lowers it."""
    if resource is None:
        return open_file_limit()[0]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft == hard:
        return open_file_limit()[0]
    for target in (hard, MACOS_OPEN_MAX):
        if target != resource.RLIM_INFINITY and target <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            break
        except (ValueError, OSError):
            continue
    return open_file_limit()[0]


def affordable(clients: int, sockets_per_client: int) -> int:
    """How many of ``clients`` fit in the soft limit now in force, each needing
    ``sockets_per_client`` files, after ``RESERVE``: ``clients`` itself when all fit."""
    room = max(open_file_limit()[0] - RESERVE, 0) // sockets_per_client
    return max(min(clients, room), 1)
