"""The balancer in front of lesson 09's backends: nginx, or the labelled fallback (lesson 09).

``front(upstreams, location=PROXY)`` starts nginx with that location block when
``servers.system.real_part("nginx")`` finds it, else ``servers.balancer.Balancer``, the Python
TCP relay, reading from the config the two things it can honour: a hashing ``balance`` line
makes it sticky by client address, and ``proxy_read_timeout`` (``servers.nginx.read_timeout``)
becomes its idle timeout. ``.kind`` says which one runs, and why. In CI a missing nginx is an
error; ``COURSE_FALLBACK=nginx`` asks for the fallback on purpose.
"""

from __future__ import annotations

from servers.balancer import Balancer
from servers.nginx import Nginx, read_timeout
from servers.system import real_part

PROXY = """location / {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_read_timeout 1h;
    proxy_buffering off;
}"""
"""The location block lesson 09 ends with: WebSockets and SSE both work through it."""


def front(
    upstreams: list[str],
    *,
    location: str = PROXY,
    balance: str = "",
    server: str = "",
    name: str | None = None,
) -> Nginx | Balancer:
    """A started balancer in front of ``upstreams`` (``host:port`` strings), with ``.kind``."""
    nginx = real_part("nginx")
    if nginx.real:
        proxy = Nginx(location, upstreams, balance=balance, server=server, name=name)
        proxy.kind = "nginx"
        return proxy.start()
    fallback = Balancer(
        upstreams,
        sticky="hash" in balance,
        idle_timeout=read_timeout(location + "\n" + server),
        name=name,
    )
    fallback.kind = f"Python TCP balancer (the fallback; {nginx.note})"
    return fallback.start()
