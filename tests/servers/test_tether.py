"""servers.tether: a spawned command dies on stop() and when its parent dies, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import psutil
from support import wait_until

from servers.tether import spawn


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def pid_written_to(path) -> int:
    wait_until(lambda: path.exists() and path.read_text().strip(), what="the command's pid")
    return int(path.read_text())


def test_stop_ends_the_command_and_everything_it_started(tmp_path):
    pidfile = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pidfile}; wait"
    tethered = spawn(["sh", "-c", command])
    grandchild = pid_written_to(pidfile)
    tethered.stop()
    tethered.stop()
    wait_until(lambda: not alive(grandchild), what="the background sleep to die")
    assert tethered.poll() is not None


def test_the_command_dies_when_its_parent_is_killed(tmp_path):
    pidfile = tmp_path / "pid"
    parent_code = textwrap.dedent(f"""
        import time
        from servers.tether import spawn
        spawn(["sh", "-c", "echo $$ > {pidfile}; exec sleep 60"])
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        command = pid_written_to(pidfile)
        os.kill(parent.pid, signal.SIGKILL)  # no atexit, no cleanup: only the pipe closes
        parent.wait()
        wait_until(lambda: not alive(command), what="the orphaned command to die")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_command_that_exits_ends_its_watchdog_with_its_code():
    tethered = spawn(["sh", "-c", "exit 3"])
    wait_until(lambda: tethered.poll() is not None, what="the watchdog to exit")
    assert tethered.poll() == 3


def test_a_command_that_writes_much_to_stderr_is_never_blocked_and_its_words_are_kept():
    write = "import sys; sys.stderr.write('x' * 300_000 + 'done')"  # far beyond a pipe's 64 KiB
    tethered = spawn([sys.executable, "-c", write])
    wait_until(lambda: tethered.poll() is not None, what="the command to finish")
    assert tethered.poll() == 0 and tethered.error_output() == "x" * 300_000 + "done"


def test_a_folder_is_left_to_its_owner_on_stop(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    tethered = spawn(["sleep", "60"], folder=str(folder))
    tethered.stop()
    assert folder.exists()  # the owner is alive and removes it when it wants to


def test_a_command_that_dies_before_it_is_ready_is_reported_with_its_own_words():
    import pytest

    from servers.tether import wait_until_ready

    stopped = []
    tethered = spawn(["sh", "-c", "echo 'port already in use' >&2; exit 1"])
    with pytest.raises(RuntimeError, match="the thing did not start:\nport already in use"):
        wait_until_ready(
            tethered,
            lambda: False,
            what="the thing",
            timeout=30,
            on_failure=lambda: stopped.append(1),
        )
    assert stopped == [1]


def test_starting_a_service_of_the_same_kind_and_name_stops_the_old_one_first():
    from servers.lifecycle import kept
    from servers.runtime import free_port
    from servers.tether import Service

    class Sleeper(Service):
        def start(self):
            return self._launch(["sleep", "60"], lambda: True, what="sleep", timeout=5)

    first = Sleeper(free_port(), "test-same-name").start()
    second = Sleeper(free_port(), "test-same-name").start()
    with Sleeper(free_port(), "test-other-name") as other:
        assert not first.running and second.running and other.running
        assert kept(Sleeper) == [second, other]
    second.stop()
    second.stop()
    assert kept(Sleeper) == []
