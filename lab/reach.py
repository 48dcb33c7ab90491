"""How the learner's browser reaches a server inside the kernel (lesson 03; lessons 05-07 and
every live demo use it).

A cell's HTML output runs in the learner's browser, which is not always on the kernel's
machine. ``browser_url(url)`` takes an in-kernel server's loopback address (``http://`` or
``ws://127.0.0.1:PORT/path``, e.g. ``server.url + "/events"``) and returns a ``BrowserURL``
whose ``.js`` is a JavaScript expression giving the address to open from the page:

- **direct**: the loopback address itself, when the browser shares the kernel's machine
  (``make lab`` on a laptop);
- **proxy**: through ``jupyter-server-proxy``, ``<Jupyter's base URL>proxy/PORT/path``, made
  absolute *in the page*: the base URL is read from JupyterLab's own page config (the
  ``jupyter-config-data`` script, key ``baseUrl``), so it holds behind a JupyterHub prefix, and
  the scheme follows the page's (``https:`` gives ``wss:`` for a WebSocket).

``decide()`` picks one, first match wins, and says why (``Decision.reason``):

1. ``COURSE_BROWSER=direct`` or ``COURSE_BROWSER=proxy`` forces it (the one setting; anything
   else is a ``ValueError``);
2. a JupyterHub or Binder environment (``JUPYTERHUB_SERVICE_PREFIX``, ``JUPYTERHUB_API_URL``,
   ``BINDER_REQUEST``, ``BINDER_SERVICE_HOST``, ``BINDER_LAUNCH_HOST``): proxy;
3. the Jupyter server that started this kernel (its ``jpserver-PID.json``, PID the kernel's
   parent) listens on a Unix socket or on an address that is not loopback: proxy — the browser
   may be anywhere, and the proxy works from everywhere Jupyter does;
4. otherwise (that server listens on loopback only, or there is no Jupyter server: a script,
   pytest, nbval): direct.

Headless-Chromium measurements that the kernel itself starts run on the kernel's machine and
keep using ``server.url``: only what the *learner's* browser opens goes through here.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SWITCH = "COURSE_BROWSER"
"""The environment variable that forces the route: ``direct`` or ``proxy``."""

HUB_VARIABLES = {
    "JUPYTERHUB_SERVICE_PREFIX": "JupyterHub",
    "JUPYTERHUB_API_URL": "JupyterHub",
    "BINDER_REQUEST": "Binder",
    "BINDER_SERVICE_HOST": "Binder",
    "BINDER_LAUNCH_HOST": "Binder",
}
"""Variables whose presence means the browser is on another machine (a hub spawned us)."""

RESOLVE = """((path, socket) => {{
  const config = document.getElementById("jupyter-config-data");
  let base = config ? JSON.parse(config.textContent).baseUrl : null;
  if (!base) {{
    const m = location.pathname.match(/^(.*?\\/)(lab|notebooks|tree|doc|voila)(\\/|$)/);
    base = m ? m[1] : "/";
  }}
  const url = new URL(base.replace(/\\/?$/, "/") + path, location.href);
  if (socket) url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}})({path}, {socket})"""
"""The page-side half of a proxied address: Jupyter's base URL + ``path``, absolute."""


@dataclass(frozen=True)
class Decision:
    """``mode`` is ``"direct"`` or ``"proxy"``; ``reason`` says which rule chose it."""

    mode: str
    reason: str

    @property
    def proxied(self) -> bool:
        return self.mode == "proxy"


@dataclass(frozen=True)
class BrowserURL:
    """Where the learner's browser opens an in-kernel server's ``loopback`` address."""

    loopback: str
    decision: Decision

    @property
    def path(self) -> str:
        """The address relative to Jupyter's base URL: ``proxy/PORT/path?query``."""
        parts = urlsplit(self.loopback)
        query = f"?{parts.query}" if parts.query else ""
        return f"proxy/{parts.port}{parts.path or '/'}{query}"

    @property
    def websocket(self) -> bool:
        return urlsplit(self.loopback).scheme in ("ws", "wss")

    @property
    def js(self) -> str:
        """A JavaScript expression for the address the page should open."""
        if not self.decision.proxied:
            return json.dumps(self.loopback)
        return RESOLVE.format(path=json.dumps(self.path), socket=json.dumps(self.websocket))

    def __str__(self) -> str:
        if not self.decision.proxied:
            return self.loopback
        return f"<Jupyter>/{self.path}"


def browser_url(url: str, *, decision: Decision | None = None) -> BrowserURL:
    """The route from the learner's browser to ``url``, an in-kernel server's loopback
    address (``http``/``ws``), as ``decide()`` (or the ``decision`` given) says."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "ws") or parts.port is None or not _loopback(parts.hostname):
        raise ValueError(f"{url!r} is not an in-kernel server's http:// or ws:// loopback address")
    return BrowserURL(url, decision or decide())


def js_address(url: str | BrowserURL) -> str:
    """The JavaScript expression for ``url``: a plain string is opened as it is (a headless
    Chromium on the kernel's machine), a ``BrowserURL`` as its route says."""
    return url.js if isinstance(url, BrowserURL) else json.dumps(url)


def decide(environ: dict | None = None, server: dict | None = None) -> Decision:
    """Direct or proxy, and why (the rules in the module's docstring). ``environ`` defaults to
    ``os.environ``, ``server`` to the Jupyter server that started this kernel, if any."""
    environ = os.environ if environ is None else environ
    forced = environ.get(SWITCH, "").strip().lower()
    if forced:
        if forced not in ("direct", "proxy"):
            raise ValueError(f"{SWITCH}={forced!r}: it takes direct or proxy")
        return Decision(forced, f"forced by {SWITCH}={forced}")
    for name, where in HUB_VARIABLES.items():
        if environ.get(name):
            return Decision("proxy", f"{where} ({name} is set): the browser is elsewhere")
    server = parent_server() if server is None else server
    if not server:
        return Decision("direct", "no Jupyter server started this kernel: the browser is local")
    if server.get("sock"):
        return Decision("proxy", f"Jupyter listens on a Unix socket ({server['sock']})")
    host = server.get("hostname") or ""
    if not _loopback(host):
        return Decision("proxy", f"Jupyter listens on {host or 'every address'}, not loopback")
    return Decision("direct", f"Jupyter listens on loopback ({host}): the browser is local")


def parent_server() -> dict:
    """The ``jpserver-PID.json`` of the Jupyter server that started this kernel ({} if none):
    jupyter_server writes one per running server in Jupyter's runtime folder."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # pragma: no cover (JupyterLab is a dependency)
        return {}
    info = Path(jupyter_runtime_dir()) / f"jpserver-{os.getppid()}.json"
    try:
        return json.loads(info.read_text())
    except (OSError, ValueError):
        return {}


def _loopback(host: str | None) -> bool:
    host = (host or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
