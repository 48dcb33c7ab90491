"""``wss://`` in front of any in-kernel server, with a throwaway certificate (lesson 12).

``TLSFront(upstream_port)`` listens on a loopback port with TLS (a certificate for
``localhost`` and ``127.0.0.1`` issued by a trustme CA made for the occasion, never installed
anywhere) and relays each connection's decrypted bytes to ``127.0.0.1:upstream_port``, as a
TLS-terminating proxy does: the WebSocket handshake and frames pass through unchanged, inside
TLS. ``client_context()`` is an SSL context that trusts that CA and nothing else, for the
``websockets`` client. It runs on the servers' loop (``servers.runtime``), and ``stop()``,
a re-run under the same ``name``, or the end of the kernel closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from pathlib import Path

import trustme

from servers import lifecycle, runtime


class TLSFront:
    def __init__(self, upstream_port: int, *, name: str | None = None) -> None:
        self.upstream_port = upstream_port
        self.name = name
        self._ca = trustme.CA()
        certificate = self._ca.issue_cert("localhost", "127.0.0.1")
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(self._context)
        self._tasks: set[asyncio.Task] = set()
        lifecycle.keep(self, name=name)
        self._server = runtime.run(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context)
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"wss://{host}:{self.port}{path}"

    def client_context(self) -> ssl.SSLContext:
        """Trusts this front's throwaway CA only (the system's CAs are not loaded)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(context)
        return context

    def ca_file(self, folder: str) -> Path:
        """The CA certificate as a PEM file in ``folder`` (for clients that want a path)."""
        path = Path(folder) / "course-ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        return path

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except asyncio.CancelledError:
            pass
        finally:
            for end in (writer, up_writer):
                end.close()
            self._tasks.discard(asyncio.current_task())

    def stop(self) -> None:
        """Stop listening and end every relayed connection; safe to call twice."""
        lifecycle.forget(self)
        if self._server is None:
            return
        server, self._server = self._server, None

        async def close() -> None:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        runtime.run(close())


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy ``source`` to ``sink`` until it ends, then pass the end on: a half-close where the
    transport has one (TCP), else a close (TLS has none), so the peer sees the end at once."""
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if sink.can_write_eof():
                sink.write_eof()
            else:
                sink.close()


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="course-wss-")
