"""The system parts the course drives for real: Chromium, nginx, Redis (lesson 00).

A lesson that uses one asks ``real_part(name)`` and gets a ``Part``: the real program's
``.path``, or ``None`` with ``.note`` saying plainly why the lesson shows its labelled fallback
instead (DESIGN.md, "Real parts, with embedded defaults"). The rule is written here once:

- the part is installed: use it;
- the part is forced off with ``COURSE_FALLBACK`` (a comma list of ``nginx``, ``redis``,
  ``chromium``, or ``all``): the fallback, on purpose, so also in CI — that is how CI runs the
  fallback paths too;
- the part is missing and ``CI`` is set (``in_ci()``): ``MissingPart``, because no lesson may
  pass CI on a fallback it did not ask for;
- the part is missing elsewhere: the fallback, with the install hint in ``.note``.

``find_tool`` honours ``COURSE_FALLBACK`` too (a forced-off part is not found), and looks in
``/usr/sbin`` itself, where nginx lives but an ordinary user's ``PATH`` does not reach: hiding
nginx from ``PATH`` does not hide it, ``COURSE_FALLBACK=nginx`` does.
"""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass

INSTALL_HINTS = {
    "chromium": "apt-get install chromium (or: playwright install chromium)",
    "nginx": "apt-get install nginx",
    "redis-server": "apt-get install redis-server",
}

FALLBACK_SWITCH = "COURSE_FALLBACK"
"""The environment variable that forces fallbacks: ``nginx``, ``redis``, ``chromium``, ``all``."""

SWITCH_NAMES = {"chromium": "chromium", "nginx": "nginx", "redis-server": "redis"}
"""Each part's name in ``COURSE_FALLBACK``."""

SYSTEM_CHROMIUMS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


class MissingPart(RuntimeError):
    """A real part is missing in CI, and no ``COURSE_FALLBACK`` asked for its fallback."""


@dataclass(frozen=True)
class Part:
    """The outcome of ``real_part``: ``.path`` of the real program, or ``None`` and a ``.note``
    saying why the fallback runs (``.forced`` when ``COURSE_FALLBACK`` asked for it)."""

    name: str
    path: str | None
    forced_by: str = ""
    """The ``COURSE_FALLBACK`` value that forced the fallback, or ``""``."""

    @property
    def forced(self) -> bool:
        return bool(self.forced_by)

    @property
    def real(self) -> bool:
        return self.path is not None

    @property
    def note(self) -> str:
        if self.real:
            return f"{self.name}: {self.path}"
        if self.forced:
            return f"{self.name}: fallback forced by {FALLBACK_SWITCH}={self.forced_by}"
        return f"{self.name}: not installed ({INSTALL_HINTS[self.name]})"


def in_ci() -> bool:
    """True on the CI runner, where no lesson may pass on a fallback it did not ask for."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def forced_fallback(name: str) -> bool:
    """Whether ``COURSE_FALLBACK`` forces the fallback of part ``name`` (``nginx``,
    ``redis-server`` or ``chromium``; the switch's own spelling, ``redis``, works too)."""
    words = {w.strip().lower() for w in os.environ.get(FALLBACK_SWITCH, "").split(",")}
    unknown = words - {"", "all", *SWITCH_NAMES.values()}
    if unknown:
        raise ValueError(
            f"{FALLBACK_SWITCH} names {', '.join(sorted(unknown))}: it takes a comma list of "
            f"{', '.join(SWITCH_NAMES.values())} or all"
        )
    return bool(words & {"all", SWITCH_NAMES.get(name, name)})


def find_tool(name: str) -> str | None:
    """Full path of a system part, or ``None`` (also when ``COURSE_FALLBACK`` forces it off).
    ``chromium`` also finds Playwright's own."""
    if forced_fallback(name):
        return None
    if name == "chromium":
        return find_chromium()
    return shutil.which(name) or _sbin(name)


def real_part(name: str) -> Part:
    """The real part, or the fallback with a reason, or ``MissingPart`` in CI (see above)."""
    if forced_fallback(name):
        return Part(name, None, forced_by=os.environ[FALLBACK_SWITCH])
    path = find_tool(name)
    if path is None and in_ci():
        raise MissingPart(
            f"{name} is not installed ({INSTALL_HINTS[name]}), and CI must run on the real "
            f"thing; set {FALLBACK_SWITCH}={SWITCH_NAMES[name]} to run its fallback on purpose"
        )
    return Part(name, path)


def find_chromium() -> str | None:
    """Path to a Chromium to drive: Playwright's own download first, then the system's."""
    own = sorted(
        glob.glob(os.path.join(_playwright_browsers(), "chromium-*", "chrome-*", "chrome"))
    )
    if own:
        return own[-1]
    for name in SYSTEM_CHROMIUMS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _playwright_browsers() -> str:
    """Where ``playwright install`` puts its browsers (read without starting Playwright)."""
    return os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser(
        "~/.cache/ms-playwright"
    )


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None
