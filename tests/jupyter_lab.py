"""A real JupyterLab for tests, reached as a learner reaches it (tests/test_remote_lab.py).

``lab_server(root, isolated=True)`` runs ``jupyter lab`` and its kernels in a network namespace
of their own (``unshare -n``, or ``-rn`` for a user who is not root; loopback brought up
inside), listening on a Unix socket (``--ServerApp.sock``); a small forwarder in this process
turns a loopback TCP port of the test's own namespace into that socket. A browser here can
then reach Jupyter's port and nothing else of the kernel's machine: as on a JupyterHub,
``127.0.0.1:PORT`` inside the kernel is not the browser's ``127.0.0.1``. ``isolated=False``
runs it as ``make lab`` does, on ``127.0.0.1``, browser and kernel sharing the machine.
``namespace_problem()`` says why namespaces cannot be made here, or ``None``.

``run_all(page)`` drives JupyterLab's own UI: the Run menu, "Run All Cells".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from servers.runtime import free_port
from servers.tether import spawn, wait_until_ready
from servers.timing import scaled

LOOPBACK_UP = """import fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    asked = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0))
    flags = struct.unpack("16sH", asked[:18])[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
os.execv(sys.argv[1], sys.argv[1:])"""
"""Run inside the new namespace: bring ``lo`` up (as ``ip link set lo up``, which CI may not
have), then become the command."""


def unshare_command() -> list[str]:
    """``unshare -n`` as root; elsewhere ``unshare -rn`` (a user namespace, where this user is
    root and may bring ``lo`` up), which needs unprivileged user namespaces."""
    return ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]


def namespace_problem() -> str | None:
    """Why this machine cannot give JupyterLab a network namespace, or ``None`` if it can."""
    if shutil.which("unshare") is None:
        return "no unshare (util-linux) here"
    probe = subprocess.run(
        [*unshare_command(), sys.executable, "-c", LOOPBACK_UP, sys.executable, "-c", ""],
        capture_output=True, text=True, timeout=scaled(30),
    )  # fmt: skip
    if probe.returncode != 0:
        return (f"{' '.join(unshare_command())} fails here (it needs root or unprivileged user "
                f"namespaces): {probe.stderr.strip()}")  # fmt: skip
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def forwarder(sock: str) -> AsyncIterator[int]:
    """A loopback TCP port of this namespace whose connections go to the Unix socket ``sock``."""
    tasks: set[asyncio.Task] = set()

    async def relay(reader, writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(sock)
        except OSError:  # not listening yet: the client sees a closed connection
            writer.close()
            return
        both = [asyncio.ensure_future(_pipe(reader, upstream_writer)),
                asyncio.ensure_future(_pipe(upstream_reader, writer))]  # fmt: skip
        tasks.update(both)
        await asyncio.gather(*both)
        tasks.difference_update(both)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Lab:
    """A running JupyterLab: ``url`` (reachable from this process), ``token``, ``headers``."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.headers = {"Authorization": f"token {token}"}

    def shut_down_kernels(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=scaled(10)) as http:
            for kernel in http.get("/api/kernels").json():
                http.delete(f"/api/kernels/{kernel['id']}")


@contextlib.asynccontextmanager
async def lab_server(root: Path, *, isolated: bool) -> AsyncIterator[Lab]:
    """JupyterLab serving ``root``, in its own network namespace or (``isolated=False``) as
    ``make lab`` runs it; stopped, kernels first, when the block ends."""
    folder = tempfile.mkdtemp(prefix="course-lab-")
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_BROWSER", "JUPYTER"))}
    env.update(JUPYTER_CONFIG_DIR=f"{folder}/config", JUPYTER_RUNTIME_DIR=f"{folder}/runtime",
               JUPYTER_DATA_DIR=f"{folder}/data")  # fmt: skip
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        f"--ServerApp.root_dir={root}", f"--ServerApp.token={token}",
        "--ServerApp.jpserver_extensions={'jupyter_server_proxy': True}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    sock = f"{folder}/jupyter.sock"
    if isolated:
        command = [*unshare_command(), sys.executable, "-c", LOOPBACK_UP, *command,
                   f"--ServerApp.sock={sock}", "--ServerApp.allow_remote_access=True"]  # fmt: skip
    else:
        port = free_port()
        command += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}"]
    process = spawn(["env", "-i", *[f"{k}={v}" for k, v in env.items()], *command], folder=folder)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if isolated:
                port = await stack.enter_async_context(forwarder(sock))
            lab = Lab(f"http://127.0.0.1:{port}", token)

            def answers() -> bool:
                try:
                    return httpx.get(lab.url + "/api/status", headers=lab.headers).is_success
                except httpx.HTTPError:
                    return False

            await asyncio.to_thread(
                wait_until_ready, process, answers, what="jupyter lab", timeout=scaled(60),
                on_failure=process.stop,
            )  # fmt: skip
            try:
                yield lab
            finally:
                await asyncio.to_thread(lab.shut_down_kernels)
    finally:
        process.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def run_all(page) -> None:
    """Run every cell of the notebook open in ``page``, from JupyterLab's Run menu, once its
    kernel is idle (earlier, JupyterLab may ask which kernel to start: the default is taken)."""
    wait = {"timeout": scaled(60) * 1000}
    await page.locator(".jp-Notebook").first.wait_for(**wait)
    idle_or_asked = page.get_by_text(re.compile(r"\| Idle$")).or_(page.locator(".jp-Dialog"))
    await idle_or_asked.first.wait_for(**wait)
    if await page.locator(".jp-Dialog").count():
        await page.locator(".jp-Dialog .jp-mod-accept").click()
        await page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(**wait)
    await page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    await page.locator('[data-command="runmenu:run-all"]').first.click()
