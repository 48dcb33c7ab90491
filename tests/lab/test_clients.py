"""lab.clients: pollers lose nothing, repeat nothing, and count what they cost."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from support import wait_until

from lab.clients import ClientLog, long_poll, short_poll
from lab.meter import ByteMeter
from lab.stats import check_delivered_once_in_order
from servers.timing import scaled


async def run_clients(
    make_client, count, publish, *, meter_timeout=None, server=None, until=lambda log: True
):
    """Start ``count`` clients, call ``publish`` (a coroutine function returning the ids it
    published), wait until every client holds the last of them and ``until(log)`` holds for
    each, then stop them; return their logs, the ids and the meter's counts."""
    stop = asyncio.Event()
    logs = [ClientLog() for _ in range(count)]
    meter = ByteMeter(server.host, server.port, idle_timeout=meter_timeout)
    async with meter, aiohttp.ClientSession() as session:
        tasks = [asyncio.ensure_future(make_client(session, meter.url, stop, log)) for log in logs]
        published = await publish()
        deadline = time.monotonic() + scaled(10)
        while not all(log.last_id == published[-1] and until(log) for log in logs):
            assert time.monotonic() < deadline, f"the clients never got post {published[-1]}"
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.gather(*tasks)
    return logs, published, meter.counts


def publisher(feed, texts, gap):
    async def publish():
        ids = []
        for text in texts:
            await asyncio.sleep(gap)
            ids.append(feed.publish(text)["id"])
        return ids

    return publish


def test_short_pollers_get_every_post_once_in_order(feed, feed_server):
    def client(session, url, stop, log):
        return short_poll(session, url, interval=0.05, stop=stop, log=log)

    logs, ids, _ = asyncio.run(
        run_clients(client, 5, publisher(feed, "abcd", 0.07), server=feed_server)
    )
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals] for log in logs], ids)
    assert all(log.empty > 0 and log.requests > log.empty for log in logs)


@pytest.mark.parametrize("etag", [False, True])
def test_a_whole_list_poller_keeps_only_new_posts_and_gets_304s_only_with_etags(
    feed, feed_server, etag
):
    feed.publish("before")

    def client(session, url, stop, log):
        return short_poll(
            session, url, interval=0.03, stop=stop, log=log, whole_list=True, etag=etag, since=1
        )

    logs, ids, _ = asyncio.run(
        run_clients(
            client,
            2,
            publisher(feed, "xy", 0.1),
            server=feed_server,
            until=lambda log: log.empty >= 4,  # some polls that found nothing new
        )
    )
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals] for log in logs], ids)
    for log in logs:
        spared = f"{log.not_modified} of {log.empty} empty answers were 304s"
        if etag:  # every empty answer but the first (no validator yet) is a 304
            assert log.not_modified == log.empty - 1 >= 3, spared
        else:
            assert log.not_modified == 0, spared


def test_long_pollers_get_every_post_once_including_a_burst_between_requests(feed, feed_server):
    async def publish():
        await asyncio.to_thread(wait_until, lambda: feed.waiting == 10, what="10 parked polls")
        first = feed.publish("wakes everyone")["id"]
        burst = [feed.publish(f"burst {n}")["id"] for n in range(5)]  # lands in the gap
        return [first, *burst]

    def client(session, url, stop, log):
        return long_poll(session, url, timeout=5, stop=stop, log=log)

    logs, ids, _ = asyncio.run(run_clients(client, 10, publish, server=feed_server))
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals] for log in logs], ids)
    wait_until(lambda: feed.waiting == 0)  # the server notices the clients left


def test_long_pollers_cut_by_an_idle_proxy_retry_and_lose_nothing(feed, feed_server):
    def client(session, url, stop, log):
        return long_poll(session, url, timeout=5, stop=stop, log=log)

    logs, ids, counts = asyncio.run(
        run_clients(client, 3, publisher(feed, "ab", 0.25), meter_timeout=0.1, server=feed_server)
    )
    assert counts.cut_idle >= 3
    assert all(log.errors >= 1 for log in logs)
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals] for log in logs], ids)


def test_a_client_log_records_the_servers_publish_time_beside_its_own_receive_time(monkeypatch):
    monkeypatch.setattr("lab.clients.time.time", lambda: 1000.0)
    log = ClientLog()
    log.record([{"id": 1, "text": "a", "ts": 999.5}, {"id": 2, "text": "b", "ts": 999.75}])
    assert log.arrivals == [(1, 999.5, 1000.0), (2, 999.75, 1000.0)]
    assert log.last_id == 2


def test_an_sse_client_reconnects_with_last_event_id_across_a_restart_losing_nothing(feed):
    from lab.clients import sse_listen
    from servers import serve
    from servers.feed import make_app

    server = serve(make_app(feed, retry_ms=100))
    port = server.port

    async def scenario():
        stop, log = asyncio.Event(), ClientLog()
        async with aiohttp.ClientSession() as session:
            client = asyncio.ensure_future(sse_listen(session, server.url, stop=stop, log=log))
            await asyncio.to_thread(wait_until, lambda: feed.waiting == 1)
            ids = [feed.publish("before")["id"]]
            await asyncio.to_thread(wait_until, lambda: log.last_id == ids[-1])
            running = server
            for restart in range(2):  # twice: the id must survive a stream with no events
                await asyncio.to_thread(running.stop)
                ids.extend(feed.publish(f"while down {restart}.{n}")["id"] for n in range(3))
                running = await asyncio.to_thread(serve, make_app(feed, retry_ms=100), port=port)
                await asyncio.to_thread(wait_until, lambda: log.last_id == ids[-1])
            restarted = running
            ids.append(feed.publish("after")["id"])
            await asyncio.to_thread(wait_until, lambda: log.last_id == ids[-1])
            stop.set()
            await client
            await asyncio.to_thread(restarted.stop)
        return log, ids

    log, ids = asyncio.run(scenario())
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals]], ids)
    assert log.requests >= 3


def test_an_sse_client_gives_up_on_an_answer_other_than_200_as_eventsource_does(feed_server):
    from lab.clients import sse_listen

    async def scenario():
        log = ClientLog()
        async with aiohttp.ClientSession() as session:
            await sse_listen(session, feed_server.url + "/nope", stop=asyncio.Event(), log=log)
        return log

    log = asyncio.run(scenario())
    assert (log.requests, log.errors) == (1, 1)


def test_websocket_clients_get_every_post_once_in_order(feed, feed_server):
    from lab.clients import ws_listen

    def client(session, url, stop, log):
        return ws_listen(session, url, stop=stop, log=log)

    async def publish():
        await asyncio.to_thread(wait_until, lambda: feed.waiting == 4, what="4 sockets")
        return await publisher(feed, "abcde", 0.02)()

    logs, ids, counts = asyncio.run(run_clients(client, 4, publish, server=feed_server))
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals] for log in logs], ids)
    assert all((log.requests, log.errors) == (1, 0) for log in logs)
    assert counts.connections == 4


def test_a_websocket_client_reconnects_with_since_across_a_restart_losing_nothing(feed):
    from lab.clients import ws_listen
    from servers import serve
    from servers.feed import make_app

    server = serve(make_app(feed))
    port = server.port

    async def scenario():
        stop, log = asyncio.Event(), ClientLog()
        async with aiohttp.ClientSession() as session:
            client = asyncio.ensure_future(ws_listen(session, server.url, stop=stop, log=log))
            await asyncio.to_thread(wait_until, lambda: feed.waiting == 1)
            ids = [feed.publish("before")["id"]]
            await asyncio.to_thread(wait_until, lambda: log.last_id == ids[-1])
            await asyncio.to_thread(server.stop)  # closes the socket with 1001
            ids.extend(feed.publish(f"while down {n}")["id"] for n in range(3))
            restarted = await asyncio.to_thread(serve, make_app(feed), port=port)
            await asyncio.to_thread(wait_until, lambda: log.last_id == ids[-1])
            stop.set()
            await client
            await asyncio.to_thread(restarted.stop)
        return log, ids

    log, ids = asyncio.run(scenario())
    check_delivered_once_in_order([[i for i, _, _ in log.arrivals]], ids)
    assert log.requests >= 2 and log.errors >= 1
