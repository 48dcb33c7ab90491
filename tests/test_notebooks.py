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
