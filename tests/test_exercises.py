"""Untouched exercises fail every check, each with a message that says what to do."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def is_check(cell) -> bool:
    return cell.cell_type == "code" and "checks.check_" in cell.source


def test_every_solution_has_an_exercise_with_checks():
    assert [p.name for p in EXERCISES] == sorted(
        p.name for p in (ROOT / "solutions").glob("*.ipynb")
    )
    for path in EXERCISES:
        assert any(is_check(c) for c in nbformat.read(path, as_version=4).cells), path.name


@pytest.mark.timeout(300)  # a whole notebook, every check failing
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_an_untouched_exercise_fails_each_check_saying_the_code_is_not_written_yet(path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    checks = [cell for cell in notebook.cells if is_check(cell)]
    for cell in checks:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert [e.ename for e in errors] == ["CheckFailed"], cell.source
        assert "not written yet" in errors[0].evalue
        assert "Hint:" in errors[0].evalue
    for cell in notebook.cells:
        if cell.cell_type == "code" and not is_check(cell):
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
