"""Every lesson and solution survives Run All twice in one kernel; the output policy holds.

nbval (in `make test`) runs each notebook once in a fresh kernel; this runs it again in the
same kernel, as a learner who re-runs cells does.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)

spec = importlib.util.spec_from_file_location("refresh_outputs", ROOT / "tools/refresh_outputs.py")
refresh_outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refresh_outputs)


@pytest.mark.timeout(600)  # a whole lesson, twice: lesson 08 alone takes about 100 s here
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_running_every_cell_twice_in_the_same_kernel_is_safe(path):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = notebook.cells + copy.deepcopy(notebook.cells)
    client = nbclient.NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, if any run fails


@pytest.mark.parametrize("path", refresh_outputs.committed_notebooks(), ids=lambda p: p.name)
def test_committed_notebooks_store_only_the_outputs_nbval_checks(path):
    assert refresh_outputs.policy_problems(path) == []


def run_lesson(name: str, *, before: str = "") -> None:
    """Run a lesson once in a fresh kernel, after the code ``before`` (a first cell). A cell that
    hangs fails on its own timeout (naming the cell) before the test's timeout hides which."""
    path = ROOT / "notebooks" / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    if before:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(before))
    client = nbclient.NotebookClient(
        notebook, timeout=120, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()


HIDE = """import servers.system
servers.system.find_tool = lambda name, find=servers.system.find_tool: (
    None if name == {part!r} else find(name))  # as on a machine without it"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("lesson", "part"),
    [
        ("03-sse-wire-format", "chromium"),
        ("03-sse-wire-format", "nginx"),
        ("04-reconnection", "chromium"),
        ("05-six-connections", "chromium"),
        ("06-websocket-handshake-and-frames", "chromium"),
        ("12-security", "chromium"),
        ("12-security", "nginx"),
        ("13-http2-http3-webtransport", "chromium"),
        ("14-capstone-notification-service", "redis-server"),
        ("14-capstone-notification-service", "nginx"),
        ("14-capstone-notification-service", "chromium"),
    ],
)
def test_in_ci_a_lesson_whose_real_part_is_missing_fails_instead_of_falling_back(
    monkeypatch, lesson, part
):
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("COURSE_FALLBACK", raising=False)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="MissingPart") as failure:
        run_lesson(lesson, before=HIDE.format(part=part))
    assert f"{part} is not installed" in str(failure.value)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("lesson", "fallbacks"),
    [
        ("03-sse-wire-format", "chromium"),
        ("05-six-connections", "chromium"),
        ("09-load-balancers", "nginx,redis"),
        ("10-pub-sub-backplane", "nginx,redis"),
        ("12-security", "chromium,nginx"),
        ("13-http2-http3-webtransport", "chromium"),
        ("14-capstone-notification-service", "chromium,nginx,redis"),
    ],
)
def test_with_course_fallback_a_lesson_passes_on_its_fallbacks_even_in_ci(
    monkeypatch, lesson, fallbacks
):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("COURSE_FALLBACK", fallbacks)
    run_lesson(lesson)  # once: the real parts run in the tests above and in nbval
