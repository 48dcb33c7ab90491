"""A pytest plugin: each notebook nbval runs whole and green goes into the book's cache.

`make test` runs every lesson once under nbval; `make site` (tools/site.py) builds the book
with myst-nb, whose execution cache (jupyter-cache) is keyed on a notebook's code and kernel.
With ``-p keep_executed --keep-executed=build/site/cache``, this plugin records the kernel
messages nbval reads for each cell, turns them into outputs exactly as nbclient does (its
``process_message``: streams, displays, ``clear_output``, updates by display id), and when every
cell of a notebook passed, stores the executed notebook in that cache. The book built after
it then executes nothing, so CI runs each lesson once for both. A notebook with a failed or
skipped cell is not stored: the book would execute it again, and the test has failed anyway.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import nbclient
import nbformat
import pytest

OPTION = "--keep-executed"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION,
        metavar="CACHE",
        default=None,
        help="store each notebook nbval ran green, with its outputs, in this jupyter-cache",
    )


class Recording:
    """One notebook's run: its cells' outputs as they arrive, and whether every cell passed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notebook = nbformat.read(path, as_version=4)
        for cell in self.notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        self.code_cells = [i for i, c in enumerate(self.notebook.cells) if c.cell_type == "code"]
        self.client = nbclient.NotebookClient(self.notebook, record_timing=False)
        self.client.reset_execution_trackers()  # the state process_message keeps
        self.passed: set[int] = set()
        self.failed = False
        self.seconds = 0.0

    def add(self, cell_num: int, messages: list[dict]) -> None:
        """The iopub messages of code cell ``cell_num``, as outputs of that cell."""
        index = self.code_cells[cell_num]
        inputs = [m for m in messages if m["msg_type"] == "execute_input"]
        if not inputs:
            return
        parent = inputs[0]["parent_header"]["msg_id"]
        self.client.clear_before_next_output = False  # as nbclient sets it for each cell
        for message in messages:
            if message["parent_header"].get("msg_id") != parent:
                continue
            try:
                self.client.process_message(message, self.notebook.cells[index], index)
            except nbclient.exceptions.CellExecutionComplete:
                break

    @property
    def complete(self) -> bool:
        return not self.failed and self.passed == set(range(len(self.code_cells)))


class Keeper:
    """Records every nbval cell and stores the green notebooks at the end of the session."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.runs: dict[Path, Recording] = {}
        self.messages: list[dict] = []

    def recording(self, item: pytest.Item) -> Recording:
        path = Path(str(item.parent.fspath))
        if path not in self.runs:
            self.runs[path] = Recording(path)
        return self.runs[path]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        if not is_nbval_cell(item):
            yield
            return
        parent = item.parent
        read = parent.get_kernel_message

        def recorded(timeout=None, stream="iopub"):
            message = read(timeout=timeout, stream=stream)
            if stream == "iopub":
                self.messages.append(message)
            return message

        self.messages = []
        parent.get_kernel_message = recorded
        started = time.monotonic()
        try:
            yield
        finally:
            del parent.get_kernel_message
            run = self.recording(item)
            run.seconds += time.monotonic() - started
            try:
                run.add(item.cell_num, self.messages)
            except Exception as error:  # never fail a test: the book executes this one itself
                run.failed = True
                warnings.warn(f"{OPTION}: {run.path.name} not kept: {error!r}", stacklevel=1)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        if not is_nbval_cell(item):
            return
        report, run = outcome.get_result(), self.recording(item)
        if report.when == "call" and report.passed:
            run.passed.add(item.cell_num)
        elif not report.passed:
            run.failed = True

    def pytest_sessionfinish(self) -> None:
        kept = [run for run in self.runs.values() if run.complete]
        if kept:
            store(self.cache, kept)


def is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item.parent, "get_kernel_message")


def store(cache: Path, runs: list[Recording]) -> None:
    """Put executed notebooks into a jupyter-cache, as myst-nb's own execution would."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache.mkdir(parents=True, exist_ok=True)
    jupyter_cache = get_cache(str(cache))
    for run in runs:
        bundle = CacheBundleIn(run.notebook, str(run.path), data={"execution_seconds": run.seconds})
        jupyter_cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def pytest_configure(config: pytest.Config) -> None:
    cache = config.getoption(OPTION)
    if cache:
        config.pluginmanager.register(Keeper(Path(cache)), "keep-executed-notebooks")
