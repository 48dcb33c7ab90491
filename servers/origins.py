"""Which pages may open the feed's WebSocket: the ``Origin`` policy (lesson 12).

A browser sends, on every WebSocket handshake, the ``Origin`` of the page that opened it, and a
script cannot change it; a server that does not check it lets any page the learner visits open
the socket with the learner's cookies (cross-site WebSocket hijacking). The policy here is
exact, as OWASP's WebSocket Security Cheat Sheet asks ("an explicit allowlist ... avoid
wildcards or substring matching"): an origin is a *serialized* origin, ``scheme://host`` with
an optional ``:port`` and nothing else (RFC 6454 section 6.2), compared as a whole string. So
``http://localhost.evil.localhost`` (a suffix trick), ``http://localhost:8888.evil.example``
(a prefix trick), ``http://evil.example@localhost`` (userinfo) and ``null`` (the opaque origin
of a sandboxed iframe or a ``file:`` page, RFC 6454 section 7.3) are all refused. By default
any loopback page is allowed (``localhost``, ``127.0.0.1``, ``[::1]``, any port: where the
learner's JupyterLab runs); a client that sends no ``Origin`` is no browser, and is let through
(it carries no victim's cookies, lesson 12 shows why that is no hole).

One more page is allowed by default: the page **a proxy in front of this server serves**, seen
as an ``Origin`` equal to the request's ``Host``. That is how a remote JupyterLab (a JupyterHub,
Binder) reaches the feed: ``jupyter-server-proxy`` relays ``https://hub.example/user/x/proxy/
PORT/ws`` after Jupyter's own ``check_origin`` (same origin, its ``allow_origin`` settings) and
login, passing ``Origin`` and ``Host`` on unchanged (``jupyter_server_proxy/handlers.py``,
``WebSocketHandlerMixin.check_origin`` and ``proxy_request_headers``). A DNS-rebinding page
(``http://evil.example:PORT`` re-pointed at 127.0.0.1) also sends an ``Origin`` equal to its
``Host``, but it must name this server's own port, which this rule refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})

_SERIALIZED = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[1-9][0-9]{0,4}))?"
)


def parse_origin(origin: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of a serialized http(s) origin as browsers send it (lower
    case, no path, no userinfo, a port only when not the default); ``None`` for anything else."""
    match = _SERIALIZED.fullmatch(origin)
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else None
    if port is not None and port > 65535:
        return None
    return match["scheme"], match["host"], port


def refusal(
    origin: str | None,
    allowed: frozenset[str] | None = None,
    *,
    host: str | None = None,
    own_port: int | None = None,
) -> str | None:
    """Why a handshake with this ``Origin`` header is refused, or ``None`` when it may go on.

    ``allowed`` is an exact allow-list (see ``allow_list``); ``None`` means any loopback page,
    or the page of a proxy in front of this server: ``host`` is the request's ``Host`` header
    and ``own_port`` the port this server listens on (see the module's docstring).
    """
    if origin is None:
        return None
    if origin == "null":
        return (
            "Origin 'null' is refused: it is the opaque origin of a sandboxed iframe, a file: "
            "page or a cross-origin redirect, and names no page an allow-list could trust"
        )
    if allowed is not None:
        if origin in allowed:
            return None
        return (
            f"Origin {origin!r} is not on this server's allow-list "
            f"({', '.join(sorted(allowed)) or 'empty'}; compared exactly, as a whole string)"
        )
    parts = parse_origin(origin)
    if parts is None:
        return (
            f"Origin {origin!r} is refused: not a serialized origin (scheme://host[:port], "
            "lower case, nothing else), which is all a browser ever sends"
        )
    if parts[1] not in LOOPBACK_HOSTS and not _served_by_a_proxy(parts, host, own_port):
        return (
            f"Origin {origin!r} is refused: only pages on this machine may open this socket "
            "(localhost, 127.0.0.1 or [::1], any port), or the page of a proxy in front of "
            "this server (an Origin equal to the request's Host, on another port than this "
            "server's)"
        )
    return None


def _served_by_a_proxy(
    origin: tuple[str, str, int | None], host: str | None, own_port: int | None
) -> bool:
    """The Origin names the request's ``Host`` exactly, and that Host is not this server's own
    port (a proxy's page, not a DNS-rebinding page addressing this server directly)."""
    if host is None or own_port is None:
        return False
    scheme, name, port = origin
    if host.lower() != (name if port is None else f"{name}:{port}"):
        return False
    return (port or (443 if scheme == "https" else 80)) != own_port


def allow_list(origins: Iterable[str]) -> frozenset[str]:
    """An exact allow-list, each entry checked to be an origin a browser could send, so a
    typo (a trailing slash, a path, upper case) fails here instead of never matching."""
    if isinstance(origins, str):
        raise TypeError("allowed_origins is a list of origins, not one string")
    checked = []
    for origin in origins:
        if origin == "null" or parse_origin(origin) is None:
            raise ValueError(
                f"{origin!r} cannot be allowed: an allowed origin is scheme://host[:port] in "
                "lower case with no path or trailing slash (and never 'null')"
            )
        checked.append(origin)
    return frozenset(checked)
