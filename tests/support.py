"""Helpers for tests: system parts that CI must have, a log of noise to assert is empty."""

from __future__ import annotations

import time

import pytest

from lab.system import INSTALL_HINTS, find_tool, in_ci


def needs(tool: str) -> str:
    """The tool's path; skipped when missing here, a failure in CI."""
    path = find_tool(tool)
    if path is None:
        message = f"{tool} is not installed ({INSTALL_HINTS[tool]})"
        if in_ci():
            pytest.fail(message + " and CI must run on the real thing")
        pytest.skip(message)
    return path


def wait_until(condition, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
