"""servers.lifecycle: the one registry of what runs, stopped at exit."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servers import lifecycle

ROOT = Path(__file__).resolve().parents[2]


def run_script(code: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


class Thing:
    def __init__(self, log: list, label: str, fail: bool = False) -> None:
        self.log, self.label, self.fail = log, label, fail

    def stop(self) -> None:
        self.log.append(self.label)
        lifecycle.forget(self)
        if self.fail:
            raise RuntimeError(f"{self.label} cannot stop")


class Other(Thing):
    pass


@pytest.fixture
def log():
    stopped: list[str] = []
    yield stopped
    for thing in lifecycle.kept(Thing):
        lifecycle.forget(thing)


def test_keeping_a_name_again_stops_the_previous_thing_of_that_kind_and_name(log):
    first = lifecycle.keep(Thing(log, "first"), name="x")
    second = lifecycle.keep(Thing(log, "second"), name="x")
    other_kind = lifecycle.keep(Other(log, "other kind"), name="x")
    assert log == ["first"]
    assert lifecycle.kept(Thing) == [second, other_kind]
    assert lifecycle.kept(Other) == [other_kind]
    assert first not in lifecycle.kept()


def test_a_forgotten_thing_is_no_longer_kept_and_forgetting_twice_is_harmless(log):
    thing = lifecycle.keep(Thing(log, "a"), name="a")
    lifecycle.forget(thing)
    lifecycle.forget(thing)
    assert lifecycle.kept(Thing) == []
    lifecycle.keep(Thing(log, "b"), name="a")
    assert log == []  # the forgotten one is not stopped again


def test_stop_all_stops_newest_first_and_a_failing_stop_does_not_stop_the_rest(log):
    for label in ["oldest", "fails", "newest"]:
        lifecycle.keep(Thing(log, label, fail=label == "fails"))
    lifecycle.stop_all()
    assert log == ["newest", "fails", "oldest"]
    assert lifecycle.kept(Thing) == []


def test_what_is_kept_is_stopped_once_at_interpreter_exit():
    result = run_script(
        """
        import atexit
        from servers import lifecycle

        class Thing:
            def __init__(self, label):
                self.label = label
            def stop(self):
                print("stopped", self.label)
                lifecycle.forget(self)

        lifecycle.keep(Thing("one"))
        lifecycle.keep(Thing("two"))
        print("exiting")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == ["exiting", "stopped two", "stopped one", ""]
