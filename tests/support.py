"""Helpers for tests: system parts that CI must have, a log of noise to assert is empty."""

from __future__ import annotations

import pytest

from lab.system import INSTALL_HINTS, find_tool, in_ci
from lab.timing import wait_until  # noqa: F401  (re-exported for tests)


def needs(tool: str) -> str:
    """The tool's path; skipped when missing here, a failure in CI."""
    path = find_tool(tool)
    if path is None:
        message = f"{tool} is not installed ({INSTALL_HINTS[tool]})"
        if in_ci():
            pytest.fail(message + " and CI must run on the real thing")
        pytest.skip(message)
    return path
