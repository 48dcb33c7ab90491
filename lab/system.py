"""The system parts the course drives for real: Chromium, nginx, Redis (lesson 00).

Each lesson that uses one asks ``find_tool``; when it is missing the lesson says so plainly and
uses the embedded fallback DESIGN.md describes. In CI (``CI`` set) a missing part is an error.
"""

from __future__ import annotations

import os
import shutil

INSTALL_HINTS = {
    "chromium": "apt-get install chromium (or: playwright install chromium)",
    "nginx": "apt-get install nginx",
    "redis-server": "apt-get install redis-server",
}


def find_tool(name: str) -> str | None:
    """Full path of a system part, or ``None``. ``chromium`` also finds Playwright's own."""
    if name == "chromium":
        from lab.browser import find_chromium

        return find_chromium()
    return shutil.which(name) or _sbin(name)


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def in_ci() -> bool:
    """True on the CI runner, where no lesson may pass on a fallback."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
