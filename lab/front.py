"""The balancer in front of lesson 09's backends: nginx, or the labelled fallback (lesson 09).

``front(upstreams, location=PROXY)`` starts nginx with that location block when
``servers.system.real_part("nginx")`` finds it, else ``servers.balancer.Balancer``, the Python
TCP relay, reading from the config the two things it can honour: a hashing ``balance`` line
makes it sticky by client address, and ``proxy_read_timeout`` (``servers.nginx.read_timeout``)
becomes its idle timeout. ``.kind`` says which one runs, and why. In CI a missing nginx is an
error; ``COURSE_FALLBACK=nginx`` asks for the fallback on purpose. ``describe(balancer, topic)``
is the lesson's paragraph on ``topic`` for the balancer that actually ran, so the prose follows
the part that ran.
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


SAYS = {
    "nginx": {
        "balancer": (
            "In front of the backends runs nginx, from a config generated into a temporary "
            "folder (servers.nginx): an upstream block of the three, round-robin by default, "
            "and one location block, shown below by its first and last lines."
        ),
        "headers": "",
        "buffering": (
            "All three rows ran through nginx, each config in its own nginx process, the "
            "rounds alternating after one uncounted warm-up round each."
        ),
    },
    "fallback": {
        "balancer": (
            "In front of the backends runs the Python fallback (servers.balancer), not nginx: "
            "a layer-4 TCP relay that gives each new connection to the next backend in turn "
            "and relays its bytes. It reads no nginx config, so the location block sections "
            "1 to 3 build is not in use in this run; where a section needs nginx, its output "
            "says what ran instead."
        ),
        "headers": (
            "No nginx in this run: the Python fallback relays bytes and drops no header, so "
            "the handshake through it is all this cell can show; nginx's refusal without the "
            "two headers is not measured here."
        ),
        "buffering": (
            "Only the fallback's row ran: the Python fallback is a byte relay and buffers nothing, "
            "and the two nginx rows need nginx (lesson 03 measured nginx's defaults holding "
            "every event until the stream ended)."
        ),
    },
}
"""Each topic's paragraph, per balancer kind: what this run can say."""


def describe(balancer: Nginx | Balancer, topic: str) -> str:
    """The paragraph on ``topic`` for ``balancer``'s kind: nginx, or the fallback."""
    return SAYS["nginx" if getattr(balancer, "kind", "") == "nginx" else "fallback"][topic]
