"""A real nginx in front of in-kernel servers, started from a generated config (lesson 03).

``Nginx(location_block, upstreams)`` writes a config into a temporary folder, starts nginx in
the foreground on a free loopback port, and stops it (and its workers) on ``stop()``, at the end
of a ``with`` block, or when the kernel exits. Only loopback addresses are used.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from lab.system import find_tool
from lab.timing import scaled
from servers.runtime import free_port

CONFIG = """
daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream backend {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""

_running: set[subprocess.Popen] = set()


class Nginx:
    """nginx proxying to ``upstreams`` (``host:port`` strings) with the given ``location`` block."""

    def __init__(self, location: str, upstreams: list[str]) -> None:
        self.executable = find_tool("nginx")
        if self.executable is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self._folder = tempfile.TemporaryDirectory(prefix="course-nginx-")
        self.port = free_port()
        self.config = CONFIG.format(
            folder=self._folder.name,
            port=self.port,
            servers="\n".join(f"        server {address};" for address in upstreams),
            location="\n".join("        " + line for line in location.strip().splitlines()),
        )
        self.config_path = Path(self._folder.name) / "nginx.conf"
        self.config_path.write_text(self.config)
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        check = subprocess.run(
            [self.executable, "-t", "-q", "-c", str(self.config_path)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the config:\n{check.stderr}\n{self.config}")
        self._process = subprocess.Popen(
            [self.executable, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() ends the workers too
        )
        _running.add(self._process)
        deadline = time.monotonic() + scaled(10)
        while not _listening(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {self.error_log()}")
            time.sleep(0.02)
        return self

    def error_log(self) -> str:
        path = Path(self._folder.name) / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """Stop nginx and its workers; safe to call twice."""
        if self._process is not None:
            _kill_group(self._process)
            _running.discard(self._process)
            self._process = None
        self._folder.cleanup()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=scaled(5))
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_running):
        _kill_group(process)
