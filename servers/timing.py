"""Waits and bounds that stretch on slow machines (introduced in lesson 00).

Set ``COURSE_TIMEOUT_FACTOR`` (default 1) to multiply every wait and time bound the lessons
and tests use, as the ``websockets`` test suite does with ``WEBSOCKETS_TESTS_TIMEOUT_FACTOR``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def timeout_factor() -> float:
    """The multiplier from ``COURSE_TIMEOUT_FACTOR``; 1 when unset."""
    value = os.environ.get("COURSE_TIMEOUT_FACTOR", "1")
    try:
        factor = float(value)
    except ValueError:
        raise ValueError(f"COURSE_TIMEOUT_FACTOR must be a number, got {value!r}") from None
    if factor <= 0:
        raise ValueError(f"COURSE_TIMEOUT_FACTOR must be positive, got {factor}")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` times the timeout factor."""
    return seconds * timeout_factor()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "it") -> None:
    """Poll ``condition`` until it holds; ``TimeoutError`` after ``scaled(timeout)`` seconds."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {scaled(timeout):g} s")
        time.sleep(0.005)
