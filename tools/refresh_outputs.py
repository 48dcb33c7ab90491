"""Execute notebooks and keep only the outputs the repository stores (the output policy).

Committed notebooks carry no outputs except in cells marked ``# NBVAL_CHECK_OUTPUT``: those
are deterministic (an error message, an encoded frame, an accept key) and their stored output
is the reference nbval compares against. Everything else is stripped, so diffs stay small;
``make run`` renders fully executed copies as HTML.

    python tools/refresh_outputs.py notebooks/00-welcome.ipynb   # execute, keep checked outputs
    python tools/refresh_outputs.py --check                       # fail if the policy is broken
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbclient
import nbformat
from nbtools import render

ROOT = Path(__file__).resolve().parent.parent
MARK = "# NBVAL_CHECK_OUTPUT"
FOLDERS = ["notebooks", "solutions"]


def checked(cell: nbformat.NotebookNode) -> bool:
    """A cell whose output nbval compares, so its output is kept."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def keep_checked_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip every output and count except those of checked cells."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if not checked(cell):  # a checked cell keeps its count: nbval needs it to compare
            cell.outputs = []
            cell.execution_count = None
    return notebook


def refresh(path: Path) -> None:
    """Run a notebook top to bottom in a fresh kernel and store it by the policy."""
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    path.write_text(render(keep_checked_outputs(notebook)))


def policy_problems(path: Path) -> list[str]:
    """Where a committed notebook breaks the output policy."""
    notebook = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if checked(cell) and not cell.outputs:
            problems.append(f"{path.name} cell {index}: checked cell has no stored output")
        if not checked(cell) and cell.outputs:
            problems.append(f"{path.name} cell {index}: stores outputs it should not")
    return problems


def committed_notebooks() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--check", action="store_true", help="only check the policy")
    args = parser.parse_args(argv)
    paths = args.paths or committed_notebooks()
    if args.check:
        problems = [p for path in paths for p in policy_problems(path)]
        print("\n".join(problems) or f"{len(paths)} notebooks follow the output policy")
        return 1 if problems else 0
    for path in paths:
        refresh(path)
        print(f"refreshed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
