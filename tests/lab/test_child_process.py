"""lab.child_process: a child that talks in lines, killed when asked or when it says no."""

from __future__ import annotations

import pytest

from lab.child_process import LineChild
from servers import lifecycle


def test_a_child_that_answers_something_else_is_killed_and_its_error_shown():
    child = LineChild("json.tool", {"not": "a file"}, what="the tool")
    assert child in lifecycle.kept(LineChild)
    with pytest.raises(RuntimeError, match="the tool failed") as failure:
        child.expect("ready", 10)
    assert "No such file" in str(failure.value)  # json.tool's stderr, read back
    assert child.process.poll() is not None and child not in lifecycle.kept(LineChild)
    child.stop()  # twice is fine
