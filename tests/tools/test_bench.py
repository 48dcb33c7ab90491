"""tools/bench.py: the aiohttp-sse reference serves what the course's SSE clients read, and
the parser benchmark times two parsers that read the same events."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import bench
import pytest

from lab.clients import ClientLog, sse_listen
from servers import serve
from servers.timing import wait_until


def test_the_reference_fans_each_post_out_to_every_sse_client_once():
    app, queues, publish = bench.make_reference_sse_app()

    async def scenario(url):
        stop, logs = asyncio.Event(), [ClientLog() for _ in range(3)]
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.ensure_future(sse_listen(session, url, stop=stop, log=log))
                     for log in logs]  # fmt: skip
            await asyncio.to_thread(wait_until, lambda: len(queues) == 3)
            ids = [publish(text)["id"] for text in "ab"]
            await asyncio.to_thread(wait_until, lambda: all(log.last_id == 2 for log in logs))
            stop.set()
            await asyncio.gather(*tasks)
        return [[i for i, _, _ in log.arrivals] for log in logs], ids

    with serve(app, name="test-bench-reference") as server:
        received, ids = asyncio.run(scenario(server.url))
    assert ids == [1, 2] and received == [[1, 2]] * 3


def test_parser_throughput_reads_the_same_events_with_both_parsers_in_every_round():
    stream = bench.sse_stream(60)  # a heartbeat after post 49: httpx-sse's extra blank event
    assert bench.read_with_course_parser([stream]) == [
        json.dumps({"id": n, "text": f"post number {n}", "ts": 1733000000.0 + n})
        for n in range(60)
    ]
    speeds = bench.parser_throughput(stream + b"data: split\r\n\r\n", chunk=7, rounds=3)
    assert set(speeds) == {"course EventParser", "httpx-sse"}
    assert all(len(v) == 3 and all(0 < mb < float("inf") for mb in v) for v in speeds.values())


def test_parser_throughput_refuses_a_parser_that_reads_other_events(monkeypatch):
    drops_the_last = lambda chunks: bench.read_with_course_parser(chunks)[:-1]  # noqa: E731
    monkeypatch.setitem(bench.PARSERS, "course EventParser", drops_the_last)
    with pytest.raises(AssertionError, match="read different events"):
        bench.parser_throughput(bench.sse_stream(3), chunk=5, rounds=1)
