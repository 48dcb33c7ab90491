"""A real ``redis-server`` for the lesson, tied to the kernel (lesson 10).

``RedisServer().start()`` runs ``redis-server`` on a free loopback port from a temporary
folder, with no persistence (``--save "" --appendonly no``), through ``servers.tether``: it
dies with the kernel however the kernel ends. ``restart()`` brings it back on the same port
with its data, as a Redis with persistence does after a clean shutdown (it saves one snapshot
into the temporary folder on the way down and loads it on the way up; a crash or a failover to
an asynchronous replica may lose the last writes, redis.io "Redis persistence", "Redis
replication"); ``restart(keep_data=
False)`` comes back empty, as a Redis without persistence does. ``stop()`` removes the folder.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time

from servers.runtime import free_port
from servers.system import INSTALL_HINTS, find_tool
from servers.tether import Service
from servers.timing import scaled


class RedisServer(Service):
    """One ``redis-server``: ``port``, ``url`` (``redis://127.0.0.1:PORT``), ``address``."""

    def __init__(self, port: int | None = None, *, executable: str | None = None) -> None:
        self.executable = executable or find_tool("redis-server")
        if self.executable is None:
            raise FileNotFoundError(
                f"redis-server is not installed ({INSTALL_HINTS['redis-server']})"
            )
        super().__init__(port or free_port())
        self.folder: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        """Start it (in a fresh temporary folder unless restarting) and wait for ``PONG``."""
        if self.running:
            return self
        self.folder = self.folder or tempfile.mkdtemp(prefix="course-redis-")
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.folder,
            "--protected-mode", "yes",
            "--logfile", "",
            "--loglevel", "warning",
        ]  # fmt: skip
        return self._launch(
            command,
            lambda: self.command("PING") == "PONG",
            what=f"redis-server on port {self.port}",
            timeout=scaled(10),
            folder=self.folder,
        )

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop it; with ``keep_data`` save a snapshot first, for ``start()`` to load."""
        if keep_data and self.running:
            self.command("SHUTDOWN", "SAVE")
        super().stop()
        if not keep_data and self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def restart(self, *, keep_data: bool = True, down_for: float = 0.0) -> RedisServer:
        """Stop, stay down ``down_for`` seconds, start again on the same port."""
        self.stop(keep_data=keep_data)
        time.sleep(down_for)
        return self.start()

    def command(self, *words: str) -> str | int | None:
        """Send one command (RESP, by hand) and return a simple reply; None if unreachable."""
        request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(request.encode())
                reply = sock.recv(65536).decode(errors="replace")
        except OSError:
            return None
        if reply.startswith(("+", "-")):
            return reply[1:].strip()
        if reply.startswith(":"):
            return int(reply[1:])
        return reply or None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} {'running' if self.running else 'stopped'}>"
