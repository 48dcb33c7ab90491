"""Many clients in a separate process, so client load never shares the server's loop.

Lesson 01 introduces it. In a cell::

    with LoadGenerator(server.url, [Group("every 1 s", "short", 20, interval=1.0)]) as load:
        ...publish posts...
    results = load.results      # per group: every client's log, bytes on the wire

``load.mark()`` in between returns each group's running totals, so a cell can measure a
steady window (lesson 08) rather than the whole run with its start and end.

Entering the ``with`` block returns once every client has *sent* its first request; a held
request, stream or socket may not have reached the server yet. A cell that needs them parked
waits for the server to count them (``feed.waiting``, a backend's ``/backend``).

Each group of clients talks to the server through its own ``ByteMeter``, so bytes are counted
per group, headers included (``metered=False``: directly). A path in the URL is kept: clients
of ``http://host:port/channels/broadcast`` read ``/channels/broadcast/events``. The process
is killed if the kernel exits first (``servers.lifecycle``).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from lab.child_process import ChildRun
from servers.limits import raise_open_file_limit
from servers.timing import scaled

SOCKETS_PER_CLIENT = 3
"""Files each client holds in the child: its own socket, and the byte meter's two ends. Each
also holds one at the server; both processes raise their open-file limit (``servers.limits``)
first, since a laptop's default soft limit (256 or 1024) would stop a thousand clients."""


@dataclass
class Group:
    """``clients`` clients of one ``kind`` ("short", "long", "sse" or "ws") sharing options."""

    name: str
    kind: str
    clients: int
    interval: float = 1.0
    """Short polling: seconds between requests."""
    timeout: float = 25.0
    """Long polling: the ``timeout`` each request asks the server for."""
    etag: bool = False
    whole_list: bool = False
    idle_timeout: float | None = None
    """Cut connections idle this long, as a proxy would (``None``: never)."""
    metered: bool = True
    """Relay through a ``ByteMeter`` (bytes counted); ``False``: straight to the server, no
    relay hop in the clients' process, bytes reported as 0 (lesson 14's SLO)."""


@dataclass
class GroupResult:
    name: str
    clients: list[dict]
    bytes_up: int
    bytes_down: int
    connections: int
    cut_idle: int

    def total(self, counter: str) -> int:
        """A ``ClientLog`` counter summed over the group's clients."""
        return sum(c[counter] for c in self.clients)

    requests = property(lambda self: self.total("requests"))
    empty = property(lambda self: self.total("empty"), doc="Answers with nothing new.")
    not_modified = property(lambda self: self.total("not_modified"), doc="304 answers.")
    errors = property(lambda self: self.total("errors"), doc="Requests that failed.")

    @property
    def deliveries(self) -> int:
        return sum(len(c["arrivals"]) for c in self.clients)

    def empty_share(self, start: float = 0.0, end: float = float("inf")) -> float:
        """Share of the requests sent between ``start`` and ``end`` that brought nothing new."""
        answers = [
            found
            for c in self.clients
            # strict=False: the last request may still have been waiting when the clients stopped
            for sent, found in zip(c["sent_at"], c["found"], strict=False)
            if start <= sent <= end and found >= 0
        ]
        return sum(1 for found in answers if found == 0) / len(answers) if answers else float("nan")

    def gaps(self) -> list[list[tuple[float, float]]]:
        """Per client, each ``(answer received, next request sent)``: the windows in which the
        client had no request waiting at the server (lesson 02)."""
        result = []
        for c in self.clients:
            arrivals, windows = iter(c["arrivals"]), []
            for k, found in enumerate(c["found"]):
                answer = [next(arrivals) for _ in range(max(found, 0))]
                if answer and k + 1 < len(c["sent_at"]):
                    windows.append((answer[-1][2], c["sent_at"][k + 1]))
            result.append(windows)
        return result

    def passed_over(self, slack: float = 0.0) -> list[tuple[int, int]]:
        """``(client, post id)`` for each post that a request sent more than ``slack`` seconds
        after its publish did not bring, so a later request did (lesson 01: a poll sees every
        post published before it was sent). Clock: both are ``time.time()`` on one machine."""
        missed = []
        for number, c in enumerate(self.clients):
            arrivals, asked = iter(c["arrivals"]), []
            for sent, found in zip(c["sent_at"], c["found"], strict=False):
                for post_id, published, _ in [next(arrivals) for _ in range(max(found, 0))]:
                    if any(earlier > published + slack for earlier in asked):
                        missed.append((number, post_id))
                if found >= 0:
                    asked.append(sent)
        return missed

    def posts_per_answer(self) -> list[int]:
        """How many posts each answer that brought any carried."""
        return [found for c in self.clients for found in c["found"] if found > 0]

    def latencies(self) -> list[float]:
        """Seconds from publish to arrival, for every post at every client."""
        return [
            received - published for c in self.clients for _, published, received in c["arrivals"]
        ]

    def received_ids(self) -> list[list[int]]:
        """Per client, the post ids in the order they arrived."""
        return [[post_id for post_id, _, _ in c["arrivals"]] for c in self.clients]


@dataclass
class LoadResults:
    groups: dict[str, GroupResult] = field(default_factory=dict)

    def __getitem__(self, name: str) -> GroupResult:
        return self.groups[name]


class LoadGenerator(ChildRun):
    """Start the clients in a child process on enter; stop them and collect results on exit."""

    module, what = "lab.loadgen", "the load generator"

    def __init__(self, url: str, groups: list[Group], *, since: int = 0, seed: int = 1) -> None:
        """``since``: the newest post id clients start from (usually ``feed.last_id``)."""
        self.spec = {
            "url": url,
            "groups": [asdict(g) for g in groups],
            "since": since,
            "seed": seed,
        }
        self.results: LoadResults | None = None

    def mark(self) -> dict[str, dict[str, int]]:
        """Each group's totals so far: bytes_up, bytes_down, requests and deliveries."""
        self._child.send("mark")
        return json.loads(self._child.expect("mark ", scaled(30))[len("mark ") :])

    def cpu_seconds(self) -> float:
        """CPU seconds the clients' process has used so far (user + system)."""
        import psutil

        times = psutil.Process(self._process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> LoadResults:
        """Tell every client to stop, and return what they saw."""
        self._child.send("stop")
        payload = json.loads(self._child.expect("{", scaled(60)))
        self._child.finish(scaled(10))
        return LoadResults({g["name"]: GroupResult(**g) for g in payload["groups"]})


# --- the child process -----------------------------------------------------------------------


async def _run(spec: dict) -> dict:
    import aiohttp

    from lab.clients import ClientLog
    from lab.meter import ByteMeter

    target = urlsplit(spec["url"])
    rng = random.Random(spec["seed"])
    stop = asyncio.Event()
    meters, sessions, tasks, logs = [], [], [], []
    for group in spec["groups"]:
        meter = (
            await ByteMeter(
                target.hostname, target.port, idle_timeout=group["idle_timeout"]
            ).__aenter__()
            if group["metered"]
            else _Unmetered(f"{target.scheme}://{target.netloc}")
        )
        meters.append(meter)
        group_logs = []
        for _ in range(group["clients"]):
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
            sessions.append(session)
            log = ClientLog()
            group_logs.append(log)
            url = meter.url + target.path.rstrip("/")
            client = _client(group, session, url, stop, log, spec["since"], rng)
            tasks.append(asyncio.ensure_future(client))
        logs.append(group_logs)
    kinds = [g["kind"] for g in spec["groups"]]
    held = [log for kind, gl in zip(kinds, logs, strict=True) for log in gl if kind != "short"]
    while any(log.requests == 0 for log in held):  # ready when every long poll or stream is sent
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    while await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline) == "mark\n":
        marks = {
            group["name"]: {
                "bytes_up": meter.counts.up,
                "bytes_down": meter.counts.down,
                "requests": sum(log.requests for log in group_logs),
                "deliveries": sum(len(log.arrivals) for log in group_logs),
            }
            for group, group_logs, meter in zip(spec["groups"], logs, meters, strict=True)
        }
        print("mark " + json.dumps(marks), flush=True)
    stop.set()
    await asyncio.gather(*tasks)
    for session in sessions:
        await session.close()
    for meter in meters:
        await meter.__aexit__(None, None, None)
    return {
        "groups": [
            {
                "name": group["name"],
                "clients": [log.to_json() for log in group_logs],
                "bytes_up": meter.counts.up,
                "bytes_down": meter.counts.down,
                "connections": meter.counts.connections,
                "cut_idle": meter.counts.cut_idle,
            }
            for group, group_logs, meter in zip(spec["groups"], logs, meters, strict=True)
        ]
    }


class _Unmetered:
    """In a meter's place for ``metered=False``: the server's own URL, nothing counted."""

    def __init__(self, url: str) -> None:
        from lab.meter import Counts

        self.url, self.counts = url, Counts()

    async def __aexit__(self, *exc_info: object) -> None:
        pass


def _client(group: dict, session, url: str, stop, log, since: int, rng: random.Random):
    """The coroutine of one client of ``group``'s kind."""
    from lab.clients import long_poll, short_poll, sse_listen, ws_listen

    common = {"stop": stop, "log": log, "since": since}
    if group["kind"] == "short":
        return short_poll(
            session,
            url,
            interval=group["interval"],
            etag=group["etag"],
            whole_list=group["whole_list"],
            phase=rng.uniform(0, group["interval"]),
            **common,
        )
    if group["kind"] == "long":
        return long_poll(session, url, timeout=group["timeout"], **common)
    if group["kind"] == "sse":
        return sse_listen(session, url, **common)
    if group["kind"] == "ws":
        return ws_listen(session, url, **common)
    raise ValueError(f"unknown client kind {group['kind']!r}")


if __name__ == "__main__":
    raise_open_file_limit()
    print(json.dumps(asyncio.run(_run(json.loads(sys.argv[1])))), flush=True)
