"""How the repository writes notebooks: stable cell ids, no machine-specific metadata."""

from __future__ import annotations

import copy

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def render(notebook: nbformat.NotebookNode) -> str:
    """Text for a notebook that is the same on every machine and every regeneration."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata.pop("execution", None)
    return nbformat.writes(notebook, version=4) + "\n"
