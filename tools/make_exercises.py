"""Write exercises/ from solutions/: solution code out, outputs stripped.

Solutions are the source. In a code cell, the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers, so instructors can also use nbgrader) become
``raise NotImplementedError()`` at the marker's indentation. ``--check`` writes nothing and
exits 1 when exercises/ differs from what would be written.

    python tools/make_exercises.py            # regenerate exercises/
    python tools/make_exercises.py --check    # fail when exercises/ is stale
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbtools import render

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
PLACEHOLDER = ["# YOUR CODE HERE", "raise NotImplementedError()"]


class MarkerError(ValueError):
    """A BEGIN SOLUTION without its END, or the other way round."""


def blank_solution(source: str) -> str:
    """The source with every marked solution replaced by the placeholder."""
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(source.splitlines(), 1):
        begin = BEGIN.match(line)
        if begin:
            if indent is not None:
                raise MarkerError(f"line {number}: BEGIN SOLUTION inside another solution")
            indent = begin.group(1)
            out.extend(indent + p for p in PLACEHOLDER)
        elif END.match(line):
            if indent is None:
                raise MarkerError(f"line {number}: END SOLUTION without a BEGIN")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise MarkerError("BEGIN SOLUTION without an END SOLUTION")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A learner's copy of a solution notebook: no solution code, no outputs."""
    exercise = copy.deepcopy(solution)
    for cell in exercise.cells:
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.source = blank_solution(cell.source)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    exercise.nbformat_minor = max(exercise.nbformat_minor, 4)
    return exercise


def expected_exercises(solutions: Path) -> dict[str, str]:
    """What exercises/ should hold: file name -> text."""
    return {
        path.name: render(make_exercise(nbformat.read(path, as_version=4)))
        for path in sorted(solutions.glob("*.ipynb"))
    }


def stale(solutions: Path, exercises: Path) -> list[str]:
    """Why exercises/ differs from what solutions/ would give (empty when in step)."""
    expected = expected_exercises(solutions)
    problems = []
    for name, text in expected.items():
        path = exercises / name
        if not path.exists():
            problems.append(f"{name}: missing from {exercises.name}/")
        elif path.read_text() != text:
            problems.append(f"{name}: out of date")
    for path in sorted(exercises.glob("*.ipynb")):
        if path.name not in expected:
            problems.append(f"{path.name}: has no solution in {solutions.name}/")
    return problems


def write(solutions: Path, exercises: Path) -> list[str]:
    """Regenerate exercises/ and return the names written."""
    exercises.mkdir(exist_ok=True)
    expected = expected_exercises(solutions)
    for name, text in expected.items():
        (exercises / name).write_text(text)
    for path in exercises.glob("*.ipynb"):
        if path.name not in expected:
            path.unlink()
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is stale")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.solutions, args.exercises)
        for problem in problems:
            print(f"stale exercise: {problem}", file=sys.stderr)
        if problems:
            print("run `python tools/make_exercises.py` and commit exercises/", file=sys.stderr)
            return 1
        count = len(expected_exercises(args.solutions))
        print(f"exercises/ is in step with solutions/ ({count} notebooks)")
        return 0
    for name in write(args.solutions, args.exercises):
        print(f"wrote exercises/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
