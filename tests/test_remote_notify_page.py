"""Lesson 14's page in a learner's JupyterLab (``lab.notify_page.show_notify_page``): the
frame logs in and connects both behind jupyter-server-proxy, the kernel out of the browser's
reach (as on a JupyterHub), and on a local ``make lab`` opened on ``localhost`` (where a frame
left on ``127.0.0.1`` would be another site and get no session cookie). JupyterLab's own UI
runs the cells (tests/jupyter_lab.py)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import nbformat
import pytest
from jupyter_lab import lab_server, namespace_problem, run_all
from support import needs

from lab.browser import open_browser
from servers.system import in_ci
from servers.timing import scaled

CELLS = [
    "from lab.notify_outages import OneBackend\nfrom lab.notify_page import show_notify_page",
    'service = OneBackend("remote-notify-page")\nshow_notify_page(service.url)',
]
FRAME = 'iframe[title="the notification service\'s page"]'


async def what_the_frame_shows(root, isolated: bool) -> dict:
    async with lab_server(root, isolated=isolated) as lab, open_browser() as browser:
        page = await browser.new_page()
        # isolated, Jupyter is on a name that is not loopback's, as a hub's is; directly, on
        # localhost, as make lab opens it
        site = lab.url.replace("127.0.0.1", "lab.localhost" if isolated else "localhost")
        await page.goto(f"{site}/lab/tree/page.ipynb?token={lab.token}")
        await run_all(page)
        wait = {"state": "attached", "timeout": scaled(90) * 1000}
        frame = page.frame_locator(FRAME)
        await frame.locator("#user").wait_for(**wait)
        await frame.locator("#user").fill("learner")
        await frame.locator("#login button").click()
        settled = '#state[data-state="connected"], #error:not(:empty)'
        await frame.locator(settled).first.wait_for(**wait)
        return {
            "lab": site,
            "src": await page.locator(FRAME).get_attribute("src"),
            "state": await frame.locator("#state").get_attribute("data-state"),
            "error": await frame.locator("#error").text_content(),
        }


ROUTES = {
    "behind jupyter-server-proxy, the kernel out of the browser's reach": True,
    "on a local make lab opened on localhost, directly": False,
}


@pytest.fixture(params=list(ROUTES.values()), ids=list(ROUTES))
def isolated(request) -> bool:
    """Whether JupyterLab runs out of the browser's reach (skipped here when no network
    namespace can be made; in CI that is a failure)."""
    needs("chromium")
    problem = namespace_problem() if request.param else None
    if problem is not None:
        assert not in_ci(), problem
        pytest.skip(problem)
    return request.param


@pytest.mark.timeout(240)
def test_the_notification_page_logs_in_and_connects_in_the_learners_jupyterlab(tmp_path, isolated):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(notebook, tmp_path / "page.ipynb")
    shown = asyncio.run(what_the_frame_shows(tmp_path, isolated))
    assert (shown["state"], shown["error"]) == ("connected", ""), shown
    src, lab = urlsplit(shown["src"]), urlsplit(shown["lab"])
    if isolated:  # on Jupyter's own origin, through its proxy
        assert (src.netloc, src.path.split("/")[1]) == (lab.netloc, "proxy"), shown
    else:  # on the kernel's port, named as the notebook's host is: the same site
        assert src.hostname == "localhost" and src.port != lab.port, shown
