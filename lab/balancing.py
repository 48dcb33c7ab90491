"""Probes that show what a load balancer does to real-time connections (introduced in lesson 09).

Every probe talks to a balancer's URL (nginx, or the Python fallback) in front of
``servers.backend`` processes, which name themselves in every answer, and returns what it saw:
which backend answered, whether a handshake succeeded, when a quiet stream was cut, when each
event arrived. ``ConnectionSampler`` polls each backend's ``/backend`` to count the streams it
holds over time.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from servers.timing import scaled


def ws_url(url: str, path: str) -> str:
    return url.replace("http://", "ws://", 1) + path


def answers_over_one_socket(url: str, count: int) -> list[str]:
    """Send ``count`` messages over one WebSocket to ``/ws/whoami``: the backend named in each
    answer."""
    with connect(ws_url(url, "/ws/whoami"), open_timeout=scaled(5)) as ws:
        names = []
        for n in range(count):
            ws.send(str(n))
            answer = json.loads(ws.recv(timeout=scaled(5)))
            assert answer["echo"] == str(n)
            names.append(answer["backend"])
    return names


def backend_per_new_socket(url: str, count: int) -> list[str]:
    """Open ``count`` WebSockets one after another, one message each: who answered each."""
    return [answers_over_one_socket(url, 1)[0] for _ in range(count)]


def backend_per_request(url: str, count: int) -> list[str]:
    """``count`` plain GETs on ONE keep-alive client connection: the ``X-Backend`` of each."""
    with httpx.Client(timeout=scaled(5)) as client:
        return [client.get(url + "/backend").headers["X-Backend"] for _ in range(count)]


@dataclass
class Handshake:
    """What a WebSocket opening handshake through a balancer got."""

    status: int | None
    said: str = ""
    backend: str | None = None

    @property
    def upgraded(self) -> bool:
        return self.status == 101


def try_handshake(url: str, path: str = "/ws/whoami") -> Handshake:
    """Open a WebSocket and say how the handshake ended: 101, or the status and body."""
    try:
        with connect(ws_url(url, path), open_timeout=scaled(5)) as ws:
            backend = ws.response.headers.get("X-Backend")
            ws.send("hello")
            ws.recv(timeout=scaled(5))
            return Handshake(101, "switched protocols; a message went both ways", backend)
    except InvalidStatus as error:
        response = error.response
        said = response.body.decode(errors="replace").strip() if response.body else ""
        return Handshake(response.status_code, said, response.headers.get("X-Backend"))


def quiet_ws_lifetime(url: str, limit: float) -> float | None:
    """Hold a WebSocket to ``/ws/whoami`` open, sending nothing: seconds until the path closed
    it, or ``None`` when it was still open after ``limit`` seconds (it still echoes then)."""
    started = time.monotonic()
    with connect(ws_url(url, "/ws/whoami"), open_timeout=scaled(5)) as ws:
        try:
            ws.recv(timeout=limit)  # whoami sends nothing unasked: only a close ends this
        except TimeoutError:
            ws.send("still there?")
            ws.recv(timeout=scaled(5))
            return None
        except ConnectionClosed:
            pass
    return time.monotonic() - started


def quiet_lifetimes(url: str, limit: float) -> dict[str, float | None]:
    """``quiet_ws_lifetime`` and ``quiet_sse_lifetime`` side by side, in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        ws = pool.submit(quiet_ws_lifetime, url, limit)
        sse = pool.submit(quiet_sse_lifetime, url, limit)
        return {"WebSocket": ws.result(), "SSE": sse.result()}


def quiet_sse_lifetime(url: str, limit: float) -> float | None:
    """Hold ``/events`` open with no post published: seconds until the stream was cut, or
    ``None`` when it was still open after ``limit`` seconds."""
    started = time.monotonic()
    try:
        timeout = httpx.Timeout(scaled(5), read=limit)
        with httpx.stream("GET", url + "/events", timeout=timeout) as response:
            for _ in response.iter_raw():
                if time.monotonic() - started > limit:
                    return None
    except httpx.ReadTimeout:
        return None  # nothing arrived for `limit` seconds, and nothing cut the stream either
    except httpx.HTTPError:
        pass
    return time.monotonic() - started


@dataclass
class Arrivals:
    """One SSE round through a balancer: who held the stream, and each event's delay."""

    backend: str | None
    """The backend that answered ``/events`` (its ``X-Backend``), ``None`` when unnamed."""
    delays: list[float]
    """Seconds from just before each post's ``POST`` to its event's arrival, in order; events
    still missing after the round's ``wait`` are left out."""


def sse_round(url: str, publish_urls: list[str], count: int, gap: float, wait: float) -> Arrivals:
    """Open ``/events`` at ``url`` and publish ``count`` posts ``gap`` seconds apart on the
    backend that holds the stream, found by its ``X-Backend`` among ``publish_urls`` (on all of
    them, in turn, when it is not one of them).

    The posts go over one keep-alive connection per backend, opened before the stream (a
    ``GET /backend`` names each), and each delay starts just before its ``POST``: a delay is
    the path's, not the cost of opening a connection or of posting to other backends first.
    """
    published: list[float] = []
    arrivals: list[float] = []
    client = httpx.Client(timeout=scaled(5))
    named = {_backend_name(client, u): u for u in publish_urls}  # and each connection warm

    def publish(targets: list[str]) -> None:
        time.sleep(0.3)  # the stream is registered on its backend before the first post
        for n in range(count):
            published.append(time.monotonic())
            for target in targets:
                client.post(target + "/posts", json={"text": f"event {n}"})
            time.sleep(gap)

    backend, publisher, started = None, None, time.monotonic()
    try:
        timeout = httpx.Timeout(scaled(5), read=wait)
        with httpx.stream("GET", url + "/events", timeout=timeout) as response:
            backend = response.headers.get("X-Backend")
            known = backend is not None and backend in named
            targets = [named[backend]] if known else list(publish_urls)
            publisher = threading.Thread(target=publish, args=(targets,))
            publisher.start()
            for chunk in response.iter_raw():
                arrivals += [time.monotonic()] * chunk.count(b"data:")
                if len(arrivals) >= count or time.monotonic() - started > wait:
                    break
    except httpx.ReadTimeout:
        pass
    finally:
        if publisher is not None:
            publisher.join()
        client.close()
    return Arrivals(backend, [a - p for a, p in zip(arrivals, published, strict=False)])


def _backend_name(client: httpx.Client, url: str) -> str | None:
    """The name ``url``'s ``GET /backend`` gives, or ``None`` (not a named backend)."""
    try:
        return client.get(url + "/backend").json().get("backend")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def sse_arrivals(url: str, publish_urls: list[str], count: int, gap: float, wait: float):
    """``sse_round(...)``'s delays alone: each event's seconds after its publication."""
    return sse_round(url, publish_urls, count, gap, wait).delays


@dataclass
class ConnectionSampler:
    """Poll each backend's ``GET /backend`` every ``interval`` seconds in a thread.

    ``times`` are seconds since start; ``counts[name]`` the streams and sockets that backend
    held (``waiting`` + ``sockets``) at each time, ``None`` while it did not answer (a stopped
    backend). Use it as a context manager; ``stop()`` ends sampling early, e.g. before the
    clients it watches shut down.
    """

    backends: list
    interval: float = 0.1
    times: list[float] = field(default_factory=list)
    counts: dict[str, list[int | None]] = field(default_factory=dict)
    events: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = {b.name: [] for b in self.backends}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> ConnectionSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling (safe to call twice): what was sampled stays as it is from now on."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def note(self, what: str) -> None:
        """Mark an event (a restart) on the timeline."""
        self.events.append((time.monotonic() - self._started, what))

    def window(self, seconds: float) -> list[tuple[int, ...]]:
        """The samples of the last ``seconds`` in which every backend answered, each a tuple
        of counts in the order of ``backends``."""
        end = self.times[-1] if self.times else 0.0
        rows = zip(*self.counts.values(), strict=False)
        return [
            row
            for at, row in zip(self.times, rows, strict=False)
            if at >= end - seconds and None not in row
        ]

    def latest(self, name: str) -> int:
        values = [v for v in self.counts[name] if v is not None]
        return values[-1] if values else 0

    def _run(self) -> None:
        with httpx.Client(timeout=scaled(2)) as client:  # a slow answer is late, not missing
            while not self._stop.is_set():
                self.times.append(time.monotonic() - self._started)
                for backend in self.backends:
                    try:
                        state = client.get(backend.url + "/backend").json()
                        value = state["waiting"] + state["sockets"]
                    except (httpx.HTTPError, ValueError, KeyError):
                        value = None
                    self.counts[backend.name].append(value)
                self._stop.wait(self.interval)


def session_polls(url: str, polls: int, *, client_id: str | None = None) -> list[tuple[int, str]]:
    """Open a session (``POST /session``) and read it back ``polls`` times, each on a new
    connection as a long-polling page's requests often are: ``(status, backend)`` per read.
    With ``client_id``, every request carries the cookie ``client=<client_id>``."""
    cookies = {"client": client_id} if client_id else None
    opened = httpx.post(url + "/session", cookies=cookies, timeout=scaled(5)).json()
    results = []
    for _ in range(polls):
        answer = httpx.get(f"{url}/session/{opened['session']}", cookies=cookies, timeout=scaled(5))
        results.append((answer.status_code, answer.headers["X-Backend"]))
    return [(201, opened["backend"]), *results]


def who_receives_a_post(url: str, clients: int, wait: float = 1.0) -> tuple[str, list[tuple]]:
    """Connect ``clients`` WebSockets to the feed's ``/ws`` through ``url``, publish one post
    through ``url`` too, and return ``(backend that took the post, [(client's backend,
    received it?), ...])``."""
    sockets = [connect(ws_url(url, "/ws"), open_timeout=scaled(5)) for _ in range(clients)]
    try:
        backends = [ws.response.headers["X-Backend"] for ws in sockets]
        posted = httpx.post(url + "/posts", json={"text": "hello, all"}, timeout=scaled(5))
        received = []
        for ws in sockets:
            try:
                received.append(json.loads(ws.recv(timeout=scaled(wait)))["text"] == "hello, all")
            except TimeoutError:
                received.append(False)
    finally:
        for ws in sockets:
            ws.close()
    return posted.headers["X-Backend"], list(zip(backends, received, strict=True))
