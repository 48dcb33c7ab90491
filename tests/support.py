"""Helpers for tests: system parts that CI must have, a log of noise to assert is empty."""

from __future__ import annotations

import pytest

from servers.system import MissingPart, real_part
from servers.timing import wait_until  # noqa: F401  (re-exported for tests)


def needs(tool: str) -> str:
    """The tool's path; skipped when missing here or forced off (``COURSE_FALLBACK``), a
    failure when missing in CI (``servers.system.real_part``)."""
    try:
        part = real_part(tool)
    except MissingPart as missing:
        pytest.fail(str(missing))
    if not part.real:
        pytest.skip(part.note)
    return part.path
