"""tools/bench.py: the aiohttp-sse reference serves what the course's SSE clients read."""

from __future__ import annotations

import asyncio

import aiohttp
import bench

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
