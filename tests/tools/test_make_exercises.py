"""tools/make_exercises.py: solutions in, exercises out, and --check catches drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "tools/make_exercises.py")
make_exercises = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_exercises)

SOLVED = """def double(x):
    \"\"\"Twice x.\"\"\"
    ### BEGIN SOLUTION
    y = x * 2
    return y
    ### END SOLUTION

print(double(2))"""


def solution_notebook() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(SOLVED)
    cell.outputs = [nbformat.v4.new_output("stream", text="4\n")]
    cell.execution_count = 3
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Ex"), cell])


def test_solution_lines_become_a_placeholder_at_the_same_indentation():
    assert make_exercises.blank_solution(SOLVED) == (
        "def double(x):\n"
        '    """Twice x."""\n'
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
        "\n"
        "print(double(2))"
    )


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN SOLUTION\nx = 1",
        "x = 1\n### END SOLUTION",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
    ],
)
def test_unbalanced_markers_are_an_error(source):
    with pytest.raises(make_exercises.MarkerError):
        make_exercises.blank_solution(source)


def test_exercises_are_stripped_of_outputs_and_counts():
    exercise = make_exercises.make_exercise(solution_notebook())
    code = exercise.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert "y = x * 2" not in code.source


def test_check_reports_missing_stale_and_orphan_exercises_until_regenerated(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(solution_notebook(), solutions / "00-x.ipynb")
    assert make_exercises.stale(solutions, exercises) == ["00-x.ipynb: missing from exercises/"]
    assert make_exercises.main(["--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    assert make_exercises.stale(solutions, exercises) == []
    (exercises / "00-x.ipynb").write_text((exercises / "00-x.ipynb").read_text() + " ")
    nbformat.write(solution_notebook(), exercises / "99-orphan.ipynb")
    assert make_exercises.stale(solutions, exercises) == [
        "00-x.ipynb: out of date",
        "99-orphan.ipynb: has no solution in solutions/",
    ]
    args = ["--check", "--solutions", str(solutions), "--exercises", str(exercises)]
    assert make_exercises.main(args) == 1


def test_the_committed_exercises_are_in_step_with_the_solutions():
    assert make_exercises.stale(ROOT / "solutions", ROOT / "exercises") == []
