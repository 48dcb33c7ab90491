"""A real nginx in front of servers, started from a generated config (lessons 03 and 09).

``Nginx(location_block, upstreams)`` writes a config into a temporary folder, starts nginx in
the foreground on a free loopback port through ``servers.tether`` (so nginx and its workers die
with the kernel, even when the kernel is killed), and stops it on ``stop()``, at the end of a
``with`` block, or at exit. Only loopback addresses are used. Every file nginx writes (temp files
of buffered responses and request bodies, its log, its pid) goes in that folder, and when the
course runs as root the workers run as root too, so they may write there.

Lesson 09 adds: ``balance`` (lines for the ``upstream backend`` block, such as ``ip_hash;`` or
``hash $cookie_client consistent;``), ``http`` (extra lines at the ``http`` level), ``server``
(extra lines in the ``server`` block, outside the location), ``name`` (starting an ``Nginx`` of
the same name first stops the old one, so re-running a cell is safe), and the
``map $http_upgrade $connection_upgrade`` every WebSocket proxy needs, always defined.
A config nginx refuses raises ``NginxConfigError`` with nginx's own words and the line of the
location block they point at. ``nginx_seconds("1m30s")`` reads nginx's time syntax, and
``read_timeout(config)`` the ``proxy_read_timeout`` a config sets (lesson 09's fallback balancer
and exercise check read it with these).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
import tempfile
from pathlib import Path

from servers.runtime import accepts_connections, free_port
from servers.system import find_tool
from servers.tether import Service
from servers.timing import scaled

MAP_UPGRADE = """map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}"""
"""``Connection: upgrade`` when the client asked to upgrade, ``close`` otherwise (nginx's docs)."""

CONFIG = """daemon off;
{user}master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{map}
{http}
    upstream backend {{
{balance}
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
{server}
{location}
    }}
}}
"""


class NginxConfigError(RuntimeError):
    """nginx refused the config: ``.message`` is what nginx said, ``.location_line`` the line of
    the location block it points at (1-based), or ``None`` when it points elsewhere."""

    def __init__(self, message: str, config: str, location_line: int | None) -> None:
        super().__init__(f"nginx refused the config:\n{message}\n{config}")
        self.message = message
        self.location_line = location_line


class Nginx(Service):
    """nginx proxying to ``upstreams`` (``host:port`` strings) with the given ``location`` block."""

    def __init__(
        self,
        location: str,
        upstreams: list[str],
        *,
        balance: str = "",
        http: str = "",
        server: str = "",
        name: str | None = None,
    ) -> None:
        self.executable = find_tool("nginx")
        if self.executable is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.upstreams = list(upstreams)
        self._folder = tempfile.TemporaryDirectory(
            prefix="course-nginx-", ignore_cleanup_errors=True
        )
        super().__init__(free_port(), name)
        parts = {
            "user": _workers_user(),
            "folder": self._folder.name,
            "port": self.port,
            "map": _indent(MAP_UPGRADE, 4),
            "http": _indent(http, 4),
            "balance": _indent(balance, 8),
            "servers": "\n".join(f"        server {address};" for address in upstreams),
            "server": _indent(server, 8),
        }
        before = CONFIG.split("{location}")[0].format(**parts)
        self._location_starts = before.count("\n") + 1  # config line of the block's first line
        self.location = location.strip()
        self.config = CONFIG.format(location=_indent(self.location, 8), **parts)
        self.config_path = Path(self._folder.name) / "nginx.conf"
        self.config_path.write_text(self.config)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def test_config(self) -> None:
        """Ask nginx (``nginx -t``) whether it accepts the config; ``NginxConfigError`` if not."""
        check = subprocess.run(
            [self.executable, "-t", "-q", "-c", str(self.config_path)],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            message = check.stderr.strip().replace(str(self.config_path), "nginx.conf")
            raise NginxConfigError(message, self.config, self._location_line(message))

    def start(self) -> Nginx:
        """Test the config, stop any nginx of the same name, start this one, wait until it
        listens."""
        self.test_config()
        return self._launch(
            [self.executable, "-c", str(self.config_path)],
            lambda: accepts_connections(self.port),
            what="nginx",
            timeout=scaled(10),
            folder=self._folder.name,
            why=self.error_log,
        )

    def pids(self) -> list[int]:
        """nginx's master and worker process ids (for tests that check they are gone)."""
        import psutil

        if self._process is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self._process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def error_log(self) -> str:
        path = Path(self._folder.name) / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """Stop nginx and its workers, and remove its folder; safe to call twice."""
        super().stop()
        self._folder.cleanup()

    def _location_line(self, message: str) -> int | None:
        found = re.search(r"nginx\.conf:(\d+)", message)
        if not found:
            return None
        line = int(found.group(1)) - self._location_starts + 1
        return line if 1 <= line <= len(self.location.splitlines()) else None

    def __repr__(self) -> str:
        state = "running" if self._process is not None else "stopped"
        return f"<Nginx {self.url} → {', '.join(self.upstreams)} {state}>"


def _workers_user() -> str:
    """A ``user`` line naming whoever runs the course, when that is root: nginx started by root
    runs its workers as ``nobody``, who may not write to the temp folders in the service's own
    folder (0700, root's), so a buffered response that spills to disk would be cut short.
    Started by anyone else, nginx's workers are that user already (and a ``user`` line would be
    ignored with a warning)."""
    if os.geteuid() != 0:
        return ""
    account = pwd.getpwuid(os.geteuid())
    return f"user {account.pw_name} {grp.getgrgid(account.pw_gid).gr_name};\n"


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


TIME_UNITS = {
    "y": 365 * 86400,
    "M": 30 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}
"""nginx's time units, most significant first (nginx docs, "Configuration file measurement
units"): ``M`` is 30 days, ``y`` 365; a number without a unit is seconds."""

_TIME_PART = re.compile(r"\s*(\d+)(ms|[yMwdhms]?)")


def nginx_seconds(value: str) -> float:
    """Seconds in an nginx time value such as ``90``, ``500ms``, ``1m30s`` or ``1h 30m``;
    ``ValueError`` for what nginx would refuse (units out of order or repeated, unknown units)."""
    text, order = value.strip().strip("\"'"), list(TIME_UNITS)
    seconds, position, last = 0.0, 0, -1
    for match in _TIME_PART.finditer(text):
        if match.start() != position:
            break
        unit = match.group(2) or "s"
        rank = order.index(unit)
        if rank <= last or (not match.group(2) and match.end() != len(text)):
            break
        seconds += int(match.group(1)) * TIME_UNITS[unit]
        last, position = rank, match.end()
    if position != len(text) or not text:
        raise ValueError(
            f"{value!r} is not an nginx time (such as 90s, 1m30s or 1h: units largest first, "
            "each once)"
        )
    return seconds


def read_timeout(config: str) -> float | None:
    """The shortest ``proxy_read_timeout`` a config (or location block) sets, in seconds, or
    ``None`` when it sets none. A value nginx would refuse is left out: nginx itself says so
    when it tests the config."""
    found = re.findall(r"proxy_read_timeout\s+(\"[^\"]*\"|'[^']*'|[^\s;]+)\s*;", config)
    seconds = []
    for value in found:
        try:
            seconds.append(nginx_seconds(value))
        except ValueError:
            continue
    return min(seconds, default=None)
