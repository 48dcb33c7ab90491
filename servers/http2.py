"""One origin over TLS, as HTTP/1.1 or HTTP/2, for the connection-limit lesson (lesson 05).

``serve_tls(http2=True)`` runs a small ASGI app on hypercorn with a throwaway certificate from
trustme, on the servers' background loop. Its routes: ``/`` a page, ``/events?stream=K`` an
SSE stream that sends one event at once and then a comment every second, ``/ping`` a plain
answer (the "ordinary fetch()"). ``http2=False`` serves the very same app over HTTP/1.1, so the
two differ only in protocol. The browser must be told to accept the certificate
(``--ignore-certificate-errors``); the course never installs it anywhere.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import trustme
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from servers import lifecycle, runtime
from servers.sse import encode_comment, encode_event

PAGE = b"<!doctype html><title>one origin</title><p>connection-limit lab</p>"


class StreamCounter:
    """How many ``/events`` streams are open right now, and the most ever open at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0

    def __enter__(self) -> StreamCounter:
        self.open += 1
        self.most = max(self.most, self.open)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.open -= 1


def make_asgi_app(counter: StreamCounter, stopping: asyncio.Event):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path == "/events":
            await _stream(scope, receive, send, counter, stopping)
        elif path in ("/", "/ping"):
            body = PAGE if path == "/" else b"pong"
            kind = b"text/html" if path == "/" else b"text/plain"
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]}
            )
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no such route"})

    return app


async def _stream(scope, receive, send, counter: StreamCounter, stopping: asyncio.Event) -> None:
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    headers = [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-store, no-transform"),
        (b"access-control-allow-origin", b"*"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    gone = asyncio.ensure_future(_disconnected(receive))
    stopped = asyncio.ensure_future(stopping.wait())
    with counter:
        try:
            body = encode_event(f"stream {query.get('stream', '?')} open", id=1)
            await send({"type": "http.response.body", "body": body, "more_body": True})
            while not (gone.done() or stopped.done()):
                await asyncio.wait([gone, stopped], timeout=1.0, return_when="FIRST_COMPLETED")
                if not gone.done():  # a heartbeat, or the last bytes when the server stops
                    more = not stopped.done()
                    chunk = {"type": "http.response.body", "body": encode_comment()}
                    await send({**chunk, "more_body": more})
        finally:
            gone.cancel()
            stopped.cancel()


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class TLSServer:
    """A running hypercorn server: ``.url`` (https), ``.http2``, ``.streams``, ``.stop()``.

    ``max_concurrent_streams`` is the ``SETTINGS_MAX_CONCURRENT_STREAMS`` it announces over
    HTTP/2; ``make_app(counter, stopping)`` builds the ASGI app it serves (lesson 13 serves
    more routes).
    """

    def __init__(
        self, *, http2: bool, max_concurrent_streams: int = 100, make_app=make_asgi_app
    ) -> None:
        self.http2 = http2
        self._make_app = make_app
        self.streams = StreamCounter()
        self._folder = tempfile.TemporaryDirectory(prefix="course-tls-")
        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1", "localhost")
        cert_path, key_path = (
            Path(self._folder.name, "cert.pem"),
            Path(self._folder.name, "key.pem"),
        )
        certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
        certificate.private_key_pem.write_to_path(str(key_path))
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.certfile, config.keyfile = str(cert_path), str(key_path)
        config.alpn_protocols = ["h2", "http/1.1"] if http2 else ["http/1.1"]
        config.graceful_timeout = 0.2
        config.keep_alive_timeout = 0.5  # idle connections close soon: stop() waits for them
        config.accesslog = config.errorlog = None
        config.h2_max_concurrent_streams = max_concurrent_streams
        self._config = config
        self.port = 0
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> TLSServer:
        """Start serving; a server that is already running is left as it is."""
        if self._task is not None:
            return self
        self.port = runtime.free_port()
        self._config.bind = [f"127.0.0.1:{self.port}"]

        async def launch():
            self._stopping = asyncio.Event()
            app = self._make_app(self.streams, self._stopping)
            self._task = asyncio.ensure_future(
                hypercorn_serve(app, self._config, shutdown_trigger=self._stopping.wait)
            )
            for _ in range(100):  # until it listens, or fails
                await asyncio.sleep(0.02)
                if self._task.done():
                    self._task.result()
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    continue
                writer.close()
                return

        runtime.run(launch(), timeout=10)
        lifecycle.keep(self)
        return self

    def stop(self) -> None:
        """Stop serving (open streams are closed); safe to call twice."""
        if self._task is None:
            return

        async def shut_down():
            self._stopping.set()
            await asyncio.wait([self._task], timeout=5)
            if not self._task.done():
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

        runtime.run(shut_down(), timeout=10)
        self._task = None
        self._folder.cleanup()
        lifecycle.forget(self)

    def __enter__(self) -> TLSServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_tls(*, http2: bool = True, **options) -> TLSServer:
    """Start the app over TLS, offering HTTP/2 (``http2=True``) or only HTTP/1.1; ``options``
    go to ``TLSServer``."""
    return TLSServer(http2=http2, **options).start()
