"""Helpers for tests: system parts that CI must have (``needs``), a tab of a real Chromium
(``chromium_page``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from servers.system import MissingPart, real_part
from servers.timing import wait_until  # noqa: F401  (re-exported for tests)


def needs(tool: str) -> str:
    """The tool's path; skipped when missing here or forced off (``COURSE_FALLBACK``), a
    failure when missing in CI (``servers.system.real_part``)."""
    try:
        part = real_part(tool)
    except MissingPart as missing:
        pytest.fail(str(missing))
    if not part.real:
        pytest.skip(part.note)
    return part.path


@contextlib.asynccontextmanager
async def chromium_page(url: str | None = None) -> AsyncIterator:
    """A Playwright page in a fresh headless Chromium (``lab.browser.open_browser``), opened at
    ``url`` or, without one, at a blank page served for the block (``blank_page_app``: the
    notebook's own origin). Call ``needs("chromium")`` in the test first."""
    from lab.browser import blank_page_app, open_browser
    from servers import serve

    with contextlib.ExitStack() as servers:
        if url is None:
            url = servers.enter_context(serve(blank_page_app())).url
        async with open_browser() as browser:
            page = await browser.new_page()
            await page.goto(url)
            yield page
