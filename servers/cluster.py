"""Feed backends as separate processes, tied to the kernel (lessons 09 and 10).

``start_backends(3)`` starts ``b1``, ``b2``, ``b3`` (``python -m servers.backend``) on free
loopback ports through ``servers.tether``, so they die with the kernel however it ends, and
returns once each is answering. ``Backend.restart()`` brings one back on the same port, as a
deploy would. Backends still running are stopped at exit (``servers.lifecycle``).
"""

from __future__ import annotations

import sys

import httpx

from servers import lifecycle
from servers.runtime import free_port
from servers.tether import Service
from servers.timing import scaled


class Backend(Service):
    """One ``servers.backend`` process: ``name``, ``port``, ``url``, ``address``."""

    def __init__(self, name: str, port: int | None = None, *, extra: list[str] = ()) -> None:
        super().__init__(port or free_port(), name)
        self.extra = list(extra)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Backend:
        """Start the process (stopping one of the same name first) and wait until it answers."""
        command = [sys.executable, "-m", "servers.backend", "--name", self.name]
        return self._launch(
            [*command, "--port", str(self.port), *self.extra],
            lambda: _answering(self.url, self.name),
            what=f"backend {self.name}",
            timeout=scaled(15),
        )

    def restart(self) -> Backend:
        """Stop and start again on the same port: its clients must reconnect."""
        self.stop()
        return self.start()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Backend {self.name} {self.url} {state}>"


def start_backends(count: int, *, prefix: str = "b", extra: list[str] = ()) -> list[Backend]:
    """``count`` backends named ``b1``… on free ports, each started and answering."""
    return [Backend(f"{prefix}{n}", extra=extra).start() for n in range(1, count + 1)]


def running_backends() -> list[Backend]:
    return lifecycle.kept(Backend)


def _answering(url: str, name: str) -> bool:
    """Whether this backend — not some other program on its port — answers ``/backend``."""
    try:
        return httpx.get(url + "/backend", timeout=0.5).json().get("backend") == name
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
