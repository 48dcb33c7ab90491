"""Lesson 03's live stream and lesson 07's WebSocket show their events in a learner's browser,
both when JupyterLab and its kernels are out of the browser's reach but for Jupyter's own port
(as on a JupyterHub or Binder: through jupyter-server-proxy) and on a local ``make lab``
(direct). JupyterLab's own UI runs the cells (tests/jupyter_lab.py)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from jupyter_lab import lab_server, namespace_problem, run_all
from playwright.async_api import TimeoutError as PlaywrightTimeout
from support import needs

from lab.browser import open_browser
from lab.feed_page import HELLO
from servers.system import in_ci
from servers.timing import scaled

ROOT = Path(__file__).resolve().parents[1]
CELLS = [
    ("03-sse-wire-format", ["import asyncio", "clock_server = serve(", "show_stream("]),
    ("07-websocket-full-duplex", ["import asyncio", "show_feed_socket(", "by the kernel"]),
]
"""The lessons' own cells, each the first code cell holding its text: imports and servers, the
live boxes (by text, not id: tools/nbtools renumbers ids whenever a cell is added)."""

EVENTS = "document.querySelectorAll('.course-eventsource .events div').length"
POSTS = "JSON.parse(document.querySelector('.course-feed-socket')?.dataset.posts || '[]').length"
ROUTE = "from lab.reach import decide\nprint('route:', decide().mode)"


def lessons_notebook(path) -> None:
    """The cells above, in order, and one that prints the route ``lab.reach`` chose."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
    for lesson, texts in CELLS:
        code = [c for c in nbformat.read(ROOT / f"notebooks/{lesson}.ipynb", 4).cells
                if c.cell_type == "code"]  # fmt: skip
        for text in texts:
            cell = next((c for c in code if text in c.source), None)
            assert cell is not None, f"lesson {lesson} has no code cell with {text!r} any more"
            notebook.cells.append(nbformat.v4.new_code_cell(cell.source))
    notebook.cells.append(nbformat.v4.new_code_cell(ROUTE))
    nbformat.write(notebook, path)


def reachable_here(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(scaled(2))
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def what_the_browser_shows(root, isolated: bool) -> dict:
    async with lab_server(root, isolated=isolated) as lab, open_browser() as browser:
        page = await browser.new_page()
        # isolated, the page is on a name that is not loopback's, as a hub's is (Chromium
        # resolves *.localhost to loopback): the feed must let the proxy's page in by its Host
        site = lab.url.replace("127.0.0.1", "lab.localhost") if isolated else lab.url
        await page.goto(f"{site}/lab/tree/lessons.ipynb?token={lab.token}")
        await run_all(page)
        wait = {"timeout": scaled(90) * 1000}
        try:
            await page.wait_for_function(f"{EVENTS} >= 2 && {POSTS} >= 4", **wait)
        except PlaywrightTimeout:
            boxes = await page.locator(".course-eventsource, .course-feed-socket").evaluate_all(
                "boxes => boxes.map(b => [b.dataset.address, b.innerText])"
            )
            raise AssertionError(f"the live boxes never showed their events: {boxes}") from None
        route = page.locator(".jp-OutputArea-output", has_text=re.compile(r"^route: "))
        await route.first.wait_for(**wait)
        return {
            "lab": site,
            "addresses": await page.locator(".course-eventsource, .course-feed-socket")
            .evaluate_all("boxes => boxes.map(box => box.dataset.address)"),
            "clock": await page.locator(".course-eventsource .events div").all_inner_texts(),
            "posts": json.loads(await page.get_attribute(".course-feed-socket", "data-posts")),
            "route": (await route.first.inner_text()).split()[-1],
        }


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "isolated",
    [True, False],
    ids=["behind jupyter-server-proxy, the kernel out of the browser's reach",
         "on a local make lab, directly"],
)  # fmt: skip
def test_the_lessons_live_boxes_show_events_in_the_learners_browser(tmp_path, isolated):
    needs("chromium")
    problem = namespace_problem() if isolated else None
    if problem and not in_ci():
        pytest.skip(problem)
    assert problem is None, problem
    lessons_notebook(tmp_path / "lessons.ipynb")
    shown = asyncio.run(what_the_browser_shows(tmp_path, isolated))
    ports = [urlsplit(address).port for address in shown["addresses"]]
    proxied = [urlsplit(a).path.startswith("/proxy/") for a in shown["addresses"]]
    if isolated:
        assert shown["route"] == "proxy"
        assert proxied == [True, True] and ports == [urlsplit(shown["lab"]).port] * 2
        kernel_ports = [int(urlsplit(a).path.split("/")[2]) for a in shown["addresses"]]
        assert not any(map(reachable_here, kernel_ports)), "the browser could reach the kernel"
    else:
        assert shown["route"] == "direct"
        assert proxied == [False, False] and urlsplit(shown["lab"]).port not in ports
    assert [urlsplit(a).scheme for a in shown["addresses"]] == ["http", "ws"]
    assert all(re.match(r"#\d+ \d\d:\d\d:\d\d", e) for e in shown["clock"])
    assert sorted(shown["posts"]) == sorted(
        [HELLO] + [f"published by the kernel {n}" for n in (1, 2, 3)]
    )
