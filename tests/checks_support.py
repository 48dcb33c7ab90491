"""Helpers for the exercise-check tests (``test_checks_l*.py``): run a learner's function
through a check and read what the check said, so each test states only the mistake and the
words that must name it."""

from __future__ import annotations

import pytest

from lab.checks import CheckFailed


def failure_of(check, *arguments, match: str | None = None) -> str:
    """The message of the CheckFailed that ``check(*arguments)`` raises (matching ``match``,
    a regular expression); the test fails if the check passes."""
    with pytest.raises(CheckFailed, match=match) as failure:
        check(*arguments)
    return str(failure.value)


def assert_named(check, *arguments, exercise: str, says: str, hint: bool = False) -> str:
    """Assert ``check(*arguments)`` fails for ``exercise`` ("06.2") with ``says`` in its
    message, and with a ``Hint:`` too when ``hint``; returns the message."""
    message = failure_of(check, *arguments, match=rf"exercise {exercise.replace('.', '[.]')}")
    assert says in message, message
    assert not hint or "Hint:" in message, message
    return message


def assert_passes(check, *arguments, exercise: str, capsys) -> str:
    """Assert ``check(*arguments)`` passes and prints its ✔ line; returns what it printed."""
    check(*arguments)
    out = capsys.readouterr().out
    assert f"✔ exercise {exercise}" in out, out
    return out
