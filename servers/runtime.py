"""The in-kernel runtime: serve aiohttp apps from a background event-loop thread.

Introduced in lesson 00. A Jupyter kernel already runs an event loop on its main thread, so
``asyncio.run()`` and ``web.run_app()`` fail there, and a server on the kernel's own loop
freezes whenever a cell blocks (a plain ``httpx.get`` to it never gets an answer). Here every
server runs on one shared loop in a daemon thread: cells stay free to block, to ``await``, or
to do both, and the servers keep answering.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from servers import lifecycle

SHUTDOWN_GRACE = 0.25
"""Seconds a running handler (an SSE stream, a WebSocket) gets to finish before it is cancelled."""

BACKLOG = 1024
"""Connections the kernel queues before the server accepts them (aiohttp's default is 128:
too few when a lesson opens hundreds of connections at once)."""

HEAD_TIMEOUT = 20.0
"""Seconds a connection may go without sending a complete request head (lesson 12): from its
start (a client that connects and never finishes its head, or trickles it a byte at a time:
Slowloris) and, on a kept-alive connection, since the last response. aiohttp 3.14 has no
separate header-read timeout; this is its ``keepalive_timeout``, whose timer is armed when a
connection opens and re-armed after each response, is not pushed back by bytes that arrive, and
closes the connection (with no response) if no complete request head came in by then. A running
handler (a stream, a WebSocket) is not idle and is not cut. 20 s is Apache mod_reqtimeout's
first header deadline (``header=20-40``); an app asks for another with ``HEAD_TIMEOUT_KEY``."""
HEAD_TIMEOUT_KEY = web.AppKey("head_timeout", float)

_lock = threading.RLock()
_loop_thread: _LoopThread | None = None


class _LoopThread:
    """One asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="servers-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "this call blocks until the servers' loop answers, so it cannot be made from "
                "that loop (from inside a handler); schedule it with loop.call_soon instead"
            )
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Cancel what is left on the loop, stop it and wait for the thread (kept in
        ``servers.lifecycle`` before any server on it, so stopped after them at exit)."""
        lifecycle.forget(self)
        if self.loop.is_closed() or not self.thread.is_alive():
            return
        self.run(_cancel_other_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


async def _cancel_other_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _loop() -> _LoopThread:
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.thread.is_alive():
            if _loop_thread is not None:
                lifecycle.forget(_loop_thread)
            _loop_thread = lifecycle.keep(_LoopThread())
        return _loop_thread


def loop() -> asyncio.AbstractEventLoop:
    """The event loop every server runs on (started on first use)."""
    return _loop().loop


def run(coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
    """Run a coroutine on the servers' loop from any other thread and return its result."""
    return _loop().run(coro, timeout)


def pending_tasks() -> list[asyncio.Task]:
    """Tasks still alive on the servers' loop: after every server stopped, this is empty."""

    async def others() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    return run(others())


class Server:
    """A running aiohttp app: ``.url``, ``.host``, ``.port``, ``.stop()``; a context manager."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        name: str | None,
        scheme: str = "http",
        path: str = "",
    ) -> None:
        self._runner = runner
        self.host = host
        self.port = port
        self.name = name
        self.scheme = scheme
        self.path = path
        self._stopped = False

    @property
    def app(self) -> web.Application:
        return self._runner.app

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return not self._stopped

    def stop(self) -> None:
        """Close the socket, end open streams (cancelled after SHUTDOWN_GRACE), run cleanups.

        Safe to call twice; returns once nothing of this server is left on the loop.
        """
        with _lock:
            if self._stopped:
                return
            self._stopped = True
            lifecycle.forget(self)
        run(self._runner.cleanup())

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        label = f" {self.name!r}" if self.name else ""
        return f"<Server{label} {self.url} {state}>"


def serve(
    app: web.Application, *, name: str | None = None, host: str = "127.0.0.1", port: int = 0
) -> Server:
    """Start ``app`` on the background loop and return its running ``Server``.

    ``port=0`` picks a free port. Serving a ``name`` again first stops the server of that name,
    so re-running a notebook cell is safe. Binds loopback unless ``host`` says otherwise. A
    handler whose client disconnects is cancelled, so a held request leaves nothing behind.
    A connection that sends no complete request head within ``HEAD_TIMEOUT`` seconds (or the
    app's ``HEAD_TIMEOUT_KEY``) is closed.
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=SHUTDOWN_GRACE,
        handler_cancellation=True,
        keepalive_timeout=app.get(HEAD_TIMEOUT_KEY, HEAD_TIMEOUT),
    )
    return _launch(runner, _start(runner, host, port), name)


def _launch(runner, starting, name: str | None, **url_parts: str) -> Server:
    """Stop the server of the same name, start this one, and keep it in ``servers.lifecycle``."""
    _loop()  # kept before the server, so that at exit the server stops first
    server = Server(runner, "", 0, name, **url_parts)
    with _lock:
        lifecycle.keep(server, name=name)
        try:
            server.host, server.port = run(starting)
        except BaseException:
            server._stopped = True
            lifecycle.forget(server)
            raise
        return server


async def _start(runner: web.AppRunner, host: str, port: int) -> tuple[str, int]:
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=BACKLOG)
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise _cannot_listen(error, host, port) from None
    address = runner.addresses[0]
    return address[0], address[1]


def _cannot_listen(error: OSError, host: str, port: int) -> OSError:
    return OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}")


class _StreamsRunner:
    """Runs a raw ``asyncio`` streams handler; ``cleanup()`` as aiohttp's runner has."""

    def __init__(self, handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        try:
            self._server = await asyncio.start_server(self._track, host, port, backlog=BACKLOG)
        except OSError as error:
            raise _cannot_listen(error, host, port) from None
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def _track(self, reader, writer) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            writer.close()
            self._tasks.discard(task)

    async def cleanup(self) -> None:
        self._server.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def serve_streams(
    handler,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    scheme: str,
    path: str = "",
) -> Server:
    """Serve a raw ``handler(reader, writer)`` on the background loop, like ``serve`` does an
    app (lesson 06: a WebSocket server written without a library)."""
    runner = _StreamsRunner(handler)
    return _launch(runner, runner.start(host, port), name, scheme=scheme, path=path)


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` (a TCP connect succeeds)."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DYNAMIC_PORTS = (49152, 65535)
"""IANA's dynamic ports (RFC 6335, section 6): the ephemeral range of macOS and Windows, and
what ``free_port`` assumes where Linux's ``ip_local_port_range`` cannot be read."""
_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    """The ports the operating system hands out by itself: to a bind on port 0, and as the
    local port of every outgoing connection."""
    try:
        low, high = map(int, EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return DYNAMIC_PORTS
    return low, high


def free_port() -> int:
    """A loopback port nobody listens on right now, for a server in another process (nginx,
    Redis, a backend) that is told its port and binds it a moment later.

    The port comes from the 16,384 just below the ephemeral range. A port from inside it (what a
    bind on port 0 gives) can be taken in that moment by an outgoing connection's local port or
    by jupyter_client picking a kernel's ports the same way (a clean-clone CI run once failed
    with a kernel's client talking to a backend's aiohttp). Ports this process already handed
    out are not handed out again. Where the ephemeral range leaves no room below it, this falls
    back to port 0."""
    low, _ = ephemeral_range()
    below = range(max(1024, low - 16384), low)
    with _lock:
        for port in random.sample(below, k=min(len(below), 256)):
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    """Whether a loopback socket can bind ``port`` (no listener, and no socket on it waiting
    out TIME_WAIT, which would stop a server that does not set ``SO_REUSEADDR``)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def running_servers() -> list[Server]:
    """Every server started by ``serve`` and not stopped yet (``servers.lifecycle`` stops
    them, and then the loop, at exit)."""
    return lifecycle.kept(Server)
