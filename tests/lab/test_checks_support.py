"""checks_support, the exercise-check tests' helpers: each fails where the test it serves must."""

from __future__ import annotations

import pytest
from checks_support import assert_named, assert_passes, failure_of

from lab.checks import CheckFailed


def check_99(answer):
    """A stand-in check: passes 42, names any other answer, with a hint for a str."""
    if answer == 42:
        print("✔ exercise 99.1: 42")
        return
    hint = " Hint: return an int." if isinstance(answer, str) else ""
    raise CheckFailed(f"[exercise 99.1] returned {answer!r}; expected 42.{hint}")


def test_a_named_mistake_gives_back_the_message():
    message = assert_named(check_99, "42", exercise="99.1", says="returned '42'", hint=True)
    assert message.endswith("Hint: return an int.")


@pytest.mark.parametrize(
    ("answer", "exercise", "says", "hint"),
    [
        (41, "99.1", "no such words", False),
        (41, "99.2", "returned 41", False),
        (41, "99.1", "returned 41", True),
    ],
    ids=["other words", "another exercise", "no hint"],
)
def test_a_message_that_does_not_name_the_mistake_fails(answer, exercise, says, hint):
    with pytest.raises(AssertionError):
        assert_named(check_99, answer, exercise=exercise, says=says, hint=hint)


def test_a_check_that_passes_fails_the_test_of_a_mistake():
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        failure_of(check_99, 42)


def test_a_right_answer_passes_and_a_wrong_one_does_not(capsys):
    assert "✔ exercise 99.1" in assert_passes(check_99, 42, exercise="99.1", capsys=capsys)
    with pytest.raises(AssertionError):
        assert_passes(check_99, 42, exercise="99.2", capsys=capsys)
    with pytest.raises(CheckFailed):
        assert_passes(check_99, 41, exercise="99.1", capsys=capsys)
