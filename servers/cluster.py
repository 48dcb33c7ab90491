"""Feed backends as separate processes, tied to the kernel (lessons 09 and 10).

``start_backends(3)`` starts ``b1``, ``b2``, ``b3`` (``python -m servers.backend``) on free
loopback ports through ``servers.tether``, so they die with the kernel however it ends, and
returns once each is answering. ``Backend.restart()`` brings one back on the same port, as a
deploy would. ``stop_all()`` runs at exit too.
"""

from __future__ import annotations

import atexit
import sys

import httpx

from lab.timing import scaled
from servers.runtime import free_port
from servers.tether import Tethered, spawn, wait_until_ready

_running: dict[str, Backend] = {}


class Backend:
    """One ``servers.backend`` process: ``name``, ``port``, ``url``, ``address``."""

    def __init__(self, name: str, port: int | None = None, *, extra: list[str] = ()) -> None:
        self.name, self.port, self.extra = name, port or free_port(), list(extra)
        self._process: Tethered | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as an nginx ``upstream`` block wants it."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Backend:
        """Start the process (stopping one of the same name first) and wait until it answers."""
        if self.name in _running:
            _running[self.name].stop()
        command = [sys.executable, "-m", "servers.backend", "--name", self.name]
        self._process = spawn([*command, "--port", str(self.port), *self.extra])
        _running[self.name] = self
        wait_until_ready(
            self._process,
            lambda: _answering(self.url, self.name),
            what=f"backend {self.name}",
            timeout=scaled(15),
            on_failure=self.stop,
        )
        return self

    def stop(self) -> None:
        """Stop the process; safe to call twice."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        if _running.get(self.name) is self:
            del _running[self.name]

    def restart(self) -> Backend:
        """Stop and start again on the same port: its clients must reconnect."""
        self.stop()
        return self.start()

    def __enter__(self) -> Backend:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Backend {self.name} {self.url} {state}>"


def start_backends(count: int, *, prefix: str = "b", extra: list[str] = ()) -> list[Backend]:
    """``count`` backends named ``b1``… on free ports, each started and answering."""
    return [Backend(f"{prefix}{n}", extra=extra).start() for n in range(1, count + 1)]


def running_backends() -> list[Backend]:
    return list(_running.values())


@atexit.register
def stop_all() -> None:
    """Stop every backend still running."""
    for backend in list(_running.values()):
        backend.stop()


def _answering(url: str, name: str) -> bool:
    """Whether this backend — not some other program on its port — answers ``/backend``."""
    try:
        return httpx.get(url + "/backend", timeout=0.5).json().get("backend") == name
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
