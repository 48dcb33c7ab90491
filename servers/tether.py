"""Child processes that die with the kernel, however it ends (lessons 09 and 10).

``spawn(command)`` starts ``command`` through a small watchdog: ``python -m servers.tether
COMMAND...``. The watchdog puts the command in a process group of its own and reads its stdin,
a pipe from the kernel. When the kernel exits — cleanly, crashed or killed with SIGKILL — the
pipe closes, and the watchdog kills the whole group (nginx's workers included) and exits.
``Tethered.stop()`` does the same on purpose. ``atexit`` is not enough on its own: it does not
run when a kernel is killed. A temporary folder given to ``spawn`` is removed by the watchdog
when the kernel died without removing it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from servers import lifecycle

GRACE = 3.0
"""Seconds a stopped command gets after SIGTERM before SIGKILL."""


class Tethered:
    """A command running under the watchdog."""

    def __init__(
        self, command: list[str], *, stdout=subprocess.DEVNULL, folder: str | None = None
    ) -> None:
        self.command = command
        owned = ["--folder", folder] if folder else []
        # stderr goes to a file, not a pipe: a pipe nobody reads fills up and blocks the command
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as this object)
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "servers.tether", *owned, "--", *command],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=self._errors,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The watchdog's pid; the command runs in a process group of its own below it."""
        return self._watchdog.pid

    @property
    def stdout(self):
        return self._watchdog.stdout

    def error_output(self) -> str:
        """What the command has written to stderr so far."""
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")

    def poll(self) -> int | None:
        """The command's exit code once it has ended (the watchdog ends with it), else None."""
        return self._watchdog.poll()

    def stop(self) -> None:
        """Kill the command's whole process group and wait for it; safe to call twice."""
        if self._watchdog.stdin and not self._watchdog.stdin.closed:
            self._watchdog.stdin.close()  # the watchdog's signal to end everything
        try:
            self._watchdog.wait(timeout=GRACE + 5)
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()


def spawn(command: list[str], *, folder: str | None = None, **streams) -> Tethered:
    """Start ``command`` so that it dies when this process dies (or on ``stop()``).

    ``folder``: a temporary folder the command works in; if this process dies without
    cleaning up, the watchdog removes it. (On ``stop()`` it is left to its owner.)
    """
    return Tethered(command, folder=folder, **streams)


def wait_until_ready(
    process: Tethered,
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    on_failure: Callable[[], None],
    why: Callable[[], str] | None = None,
) -> None:
    """Poll ``ready`` until it holds. If the command ends or ``timeout`` seconds pass first,
    call ``on_failure`` (the owner's ``stop``) and raise ``RuntimeError`` with what the command
    wrote to stderr, or ``why()``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            error = why() if why is not None else process.error_output()
            on_failure()
            raise RuntimeError(f"{what} did not start:\n{error}")
        time.sleep(0.02)


class Service:
    """A tethered command serving on a loopback ``port`` (lessons 09 and 10).

    The lifecycle nginx, the fallback balancer, the feed backends and Redis share: ``_launch``
    stops a running service of the same class and ``name`` first (so re-running a cell is
    safe), spawns the command and waits until it is ready; ``stop()`` is safe twice; a ``with``
    block starts and stops it; whatever still runs is stopped at exit (``servers.lifecycle``,
    where ``lifecycle.kept(Backend)`` lists the running services of a kind). Subclasses write
    ``start()`` (the command and its readiness) and extend ``stop()`` for their own cleanup.
    """

    def __init__(self, port: int, name: str | None = None) -> None:
        self.port, self.name = port, name
        self._process: Tethered | None = None

    @property
    def address(self) -> str:
        """``host:port``, as an nginx ``upstream`` block wants it."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _launch(
        self,
        command: list[str],
        ready: Callable[[], bool],
        *,
        what: str,
        timeout: float,
        folder: str | None = None,
        why: Callable[[], str] | None = None,
    ):
        if self._process is not None:  # started again: the old command goes first
            self._process.stop()
        lifecycle.keep(self, name=self.name)  # stops the running one of this class and name
        self._process = spawn(command, folder=folder)
        wait_until_ready(
            self._process, ready, what=what, timeout=timeout, on_failure=self.stop, why=why
        )
        return self

    def stop(self) -> None:
        """Stop the command and everything it started; safe to call twice."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        lifecycle.forget(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _kill_group(child: subprocess.Popen) -> None:
    for sig, wait in [(signal.SIGTERM, GRACE), (signal.SIGKILL, None)]:
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _watch(command: list[str], folder: str | None = None) -> int:
    """The watchdog: run ``command`` in its own group; end it when stdin closes, and remove
    ``folder`` too when that happened because the parent died."""
    parent = os.getppid()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    ended = threading.Event()

    def wait_for_parent() -> None:
        while os.read(0, 4096):  # b"" at EOF: the parent closed the pipe, or died
            pass
        ended.set()

    threading.Thread(target=wait_for_parent, daemon=True).start()
    while not ended.is_set() and child.poll() is None:
        ended.wait(0.1)
    _kill_group(child)  # also reaps workers left in the group after the leader exited
    if folder and os.getppid() != parent:  # orphaned: nobody else will clean up
        shutil.rmtree(folder, ignore_errors=True)
    return child.returncode if child.returncode is not None else 0


def _parse(argv: list[str]) -> tuple[list[str], str | None]:
    """``[--folder DIR] -- COMMAND...`` → (command, folder)."""
    folder = None
    if argv[:1] == ["--folder"]:
        folder, argv = argv[1], argv[2:]
    return argv[1:] if argv[:1] == ["--"] else argv, folder


if __name__ == "__main__":
    code = _watch(*_parse(sys.argv[1:]))
    os._exit(code if code >= 0 else 128 - code)  # no shutdown while the reader thread blocks
