"""A child process that talks in lines (lesson 01 introduces it, for ``lab.loadgen``; lesson
11's ``lab.slow_clients`` uses it too).

``LineChild("lab.loadgen", spec, what="the load generator")`` runs ``python -m lab.loadgen
'<spec as JSON>'`` in a new session, reads its stdout line by line in a thread, and is kept in
``servers.lifecycle``, so the child is killed if the kernel exits first. ``send(line)`` writes a
command to its stdin; ``expect(prefix, timeout)`` returns the next line, or kills the child and
raises with its stderr when the line is missing or says something else.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

from servers import lifecycle


class LineChild:
    def __init__(self, module: str, spec: dict, *, what: str) -> None:
        self.what = what
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        lifecycle.keep(self)
        threading.Thread(target=self._read_lines, daemon=True).start()

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, prefix: str, timeout: float) -> str:
        """The next line, which must start with ``prefix``."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"{self.what} failed: {line!r}\n{self.process.stderr.read()}")
        return line

    def finish(self, timeout: float) -> None:
        """Wait for the child to exit by itself, then forget it."""
        self.process.wait(timeout=timeout)
        lifecycle.forget(self)

    def stop(self) -> None:
        """Kill the child (at once) and forget it; safe to call twice."""
        lifecycle.forget(self)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read_lines(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")


class ChildRun:
    """A ``with`` block around a ``LineChild`` (``lab.loadgen.LoadGenerator``,
    ``lab.slow_clients.Crowd``): entering starts ``python -m <module>`` with ``self.spec`` and
    waits for its ``ready``; leaving normally calls ``self.stop()`` into ``self.results``,
    leaving on an error kills the child."""

    module = ""
    what = ""
    spec: dict

    def __enter__(self):
        from servers.limits import raise_open_file_limit
        from servers.timing import scaled

        raise_open_file_limit()  # this process serves the clients: one socket each
        self._child = LineChild(self.module, self.spec, what=self.what)
        self._process = self._child.process
        self._child.expect("ready", scaled(30))
        return self

    def __exit__(self, exc_type, *rest: object) -> None:
        if exc_type is None:
            self.results = self.stop()
        else:
            self._child.stop()

    def stop(self):
        raise NotImplementedError
