"""A real browser for the lessons: headless Chromium driven by Playwright (lesson 03).

Playwright's own Chromium is used when it is installed, else a system Chromium or Chrome
(``servers.system.find_chromium``). Use it with ``async with open_browser() as browser:`` from
a notebook cell (top-level ``await``) or from ``asyncio.run`` in a script. A lesson asks
``servers.system.real_part("chromium")`` first: when it is missing (or ``COURSE_FALLBACK``
forces it off) the lesson says so plainly and falls back, and in CI a missing one fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator

from servers.system import INSTALL_HINTS, find_tool

CHROMIUM_FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    # Measured with Chromium 156: even with the flags above it asks update.googleapis.com and
    # accounts.google.com within a second of starting; these point both at a closed local port.
    "--component-updater=url-source=http://127.0.0.1:9",
    "--gaia-url=http://127.0.0.1:9",
]
"""Flags that keep a headless Chromium off the network (tests/lab/test_browser.py records it
through a proxy): it asks for nothing but what its pages ask for."""


def launch_args() -> list[str]:
    """The flags above, plus ``--no-sandbox`` when running as root (Chromium refuses otherwise)."""
    args = list(CHROMIUM_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


@contextlib.asynccontextmanager
async def open_browser(
    *, executable: str | None = None, extra_args: list[str] = ()
) -> AsyncIterator:
    """A headless Chromium as a Playwright ``BrowserContext`` with a fresh profile.

    ``await browser.new_page()`` opens a tab. The browser process and its profile folder are
    gone when the block ends.
    """
    from playwright.async_api import async_playwright

    executable = executable or find_tool("chromium")
    if executable is None:
        raise RuntimeError(f"no Chromium found: {INSTALL_HINTS['chromium']}")
    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=launch_args() + list(extra_args),
            )
            try:
                yield context
            finally:
                await context.close()


_RENDER_OUTPUT = """html => {
  document.getElementById("cell-output")?.remove();
  const output = document.createElement("div");
  output.id = "cell-output";
  output.innerHTML = html;
  document.body.appendChild(output);
  for (const inert of output.querySelectorAll("script")) {
    const script = document.createElement("script");
    script.textContent = inert.textContent;
    inert.replaceWith(script);
  }
}"""


async def render_output(page, html: str) -> None:
    """Replace the page's "cell output" with ``html`` and run its scripts, as JupyterLab does
    when a cell that displays HTML is run again (lesson 03)."""
    await page.evaluate(_RENDER_OUTPUT, html)


def blank_page_app():
    """An app serving an empty page at ``/``: a stand-in for the notebook's own origin, so a
    stream from an in-kernel server is cross-origin, as it is from JupyterLab (lesson 03)."""
    from aiohttp import web

    async def page(request):
        return web.Response(text="<!doctype html><title>notebook</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return app
