"""Outages the notification page must live through (lesson 14), for
``lab.notify_page.drive_notify_page``: each has ``down(serving)``, told which backend served
each channel's stream (``{channel: X-Backend}``, empty without names), and ``up()``.

``OneBackend`` is one in-kernel service that stops and comes back on its port, the same
channels and tokens: what a learner has without lesson 14's cluster. ``KillPageBackend``
kills (SIGKILL: its streams just break) the backend of a ``lab.notify_cluster.NotifyCluster``
that served the page's own channel, so the page's reconnections go through nginx to another
backend, which resumes them from the shared backplane; ``up()`` starts it again.

``others_serve`` says whether the page can be served while the outage lasts: then the page
must be back before ``up()`` is called (else a page that came back only once the killed
backend was started again, on that very backend, would pass for one the front moved).
"""

from __future__ import annotations

from servers import serve
from servers.notify import MemoryBrokers, Signer, make_app


class OneBackend:
    """One in-kernel notification service: ``down()`` stops it (streams get their
    ``shutdown``, sockets 1001), ``up()`` serves a new app on the same port, the same channels
    (``MemoryBrokers``) and tokens (``Signer``)."""

    others_serve = False
    """Nothing serves the page while it is down."""

    def __init__(self, name: str = "notify-page", *, retry_ms: int = 500) -> None:
        self.name, self.retry_ms = name, retry_ms
        self.brokers, self.signer = MemoryBrokers(), Signer()
        self.server = serve(self._app(), name=name)
        self.url, self.port = self.server.url, self.server.port

    def _app(self):
        return make_app(brokers=self.brokers, signer=self.signer, retry_ms=self.retry_ms)

    def down(self, serving: dict[str, str] | None = None) -> None:
        self.server.stop()

    def up(self) -> None:
        self.server = serve(self._app(), name=self.name, port=self.port)

    def stop(self) -> None:
        self.server.stop()


class KillPageBackend:
    """Kill the cluster's backend that served the page's ``user`` channel (the first backend
    when the page's streams carried no name); ``up()`` starts it again."""

    others_serve = True
    """The cluster's other backends serve the page while this one is down."""

    def __init__(self, cluster, user: str) -> None:
        self.cluster, self.user = cluster, user
        self.killed = None

    def down(self, serving: dict[str, str]) -> None:
        name = serving.get(self.user)
        by_name = {backend.name: backend for backend in self.cluster.backends}
        self.killed = by_name.get(name, self.cluster.backends[0])
        self.killed.kill()

    def up(self) -> None:
        if self.killed is not None:
            self.killed.start()
