"""A text progress bar for long cells, updated in place in Jupyter (lesson 08)."""

from __future__ import annotations

from collections.abc import Callable


def progress_bar(width: int = 30) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, what)`` callback that redraws one line of output.

    In a notebook the line is updated in place; elsewhere each step prints a line.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display

        shown = get_ipython() is not None
        handle = display({"text/plain": ""}, raw=True, display_id=True) if shown else None
    except ImportError:
        handle = None

    def progress(done: int, total: int, what: str) -> None:
        filled = round(width * done / total) if total else width
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}"
        if handle is None:
            print(line, flush=True)
        else:
            handle.update({"text/plain": line}, raw=True)  # raw: no quotes around the text

    return progress
