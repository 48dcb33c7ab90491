"""A Jupyter server of the lesson's own, with ``jupyter-server-proxy`` in it (lesson 03).

On a JupyterHub, Binder or any remote JupyterLab, the learner's browser reaches an in-kernel
server through Jupyter: ``<base URL>proxy/PORT/path`` (``lab.reach``). To show what that hop
does — which responses it streams and which it buffers, and what it costs — a lesson starts
``JupyterProxy().start()``: ``jupyter server`` on a free loopback port with a random token,
through ``servers.tether`` (it dies with the kernel), in an empty temporary folder. ``url`` is
its root, ``proxied(port, path)`` the address of an in-kernel server through it, ``headers``
the token a client must send (Jupyter authenticates proxied requests like its own).
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile

import httpx

from servers.runtime import free_port
from servers.tether import Service
from servers.timing import scaled


class JupyterProxy(Service):
    """``jupyter server`` with ``jupyter-server-proxy``, on ``127.0.0.1:port``."""

    def __init__(self, port: int | None = None, name: str | None = None) -> None:
        super().__init__(port or free_port(), name)
        self.token = secrets.token_hex(16)
        self.folder: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def proxied(self, port: int, path: str = "/") -> str:
        """``http://127.0.0.1:PORT/path`` as the browser reaches it through this server."""
        return f"{self.url}/proxy/{port}{path}"

    def start(self) -> JupyterProxy:
        """Start it and wait until its API answers with the token."""
        if self.running:
            return self
        self.folder = tempfile.mkdtemp(prefix="course-jupyter-")
        command = [
            sys.executable, "-m", "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.folder}",
            "--ServerApp.jpserver_extensions={'jupyter_server_proxy': True}",
            "--ServerApp.log_level=WARN",
            "--allow-root",
        ]  # fmt: skip
        return self._launch(
            command, self._answers, what=f"jupyter server on port {self.port}",
            timeout=scaled(30), folder=self.folder,
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/api/status", headers=self.headers, timeout=1).is_success
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        super().stop()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
