"""lab.loadgen: clients in a child process deliver results and never outlive their cell."""

from __future__ import annotations

import time

import httpx
import pytest
from support import wait_until

from lab.loadgen import Group, GroupResult, LoadGenerator
from lab.stats import check_delivered_once_in_order


def test_groups_in_a_child_process_report_every_post_and_their_bytes(feed, feed_server):
    groups = [
        Group("short", "short", 3, interval=0.05),
        Group("long", "long", 3, timeout=5),
        Group("sse", "sse", 3),
        Group("ws", "ws", 3),
    ]
    with LoadGenerator(feed_server.url, groups) as load:
        wait_until(lambda: feed.waiting == 9, what="9 held requests, streams and sockets")
        ids = []
        for text in "abc":
            time.sleep(0.05)  # paced, so the short pollers poll between posts
            ids.append(feed.publish(text)["id"])
        wait_until(
            lambda: all(group["deliveries"] == 9 for group in load.mark().values()),
            what="every client to receive every post",
        )
    for name in ["short", "long", "sse", "ws"]:
        group = load.results[name]
        check_delivered_once_in_order(group.received_ids(), ids)
        assert group.connections == 3
        assert group.bytes_up > 0 and group.bytes_down > 0
        assert group.deliveries == 9 == len(group.latencies())
        assert all(latency >= 0 for latency in group.latencies())
    assert load.results["short"].requests > load.results["long"].requests
    assert load.results["ws"].requests == load.results["sse"].requests == 3


def test_the_child_process_is_killed_when_the_cell_fails(feed_server):
    load = LoadGenerator(feed_server.url, [Group("short", "short", 1, interval=0.05)])
    with pytest.raises(ZeroDivisionError), load:
        1 / 0  # noqa: B018
    assert load._process.poll() is not None
    assert load.results is None


def test_an_unknown_client_kind_fails_with_the_childs_error(feed_server):
    load = LoadGenerator(feed_server.url, [Group("x", "carrier pigeon", 1)])
    with pytest.raises(RuntimeError, match="unknown client kind 'carrier pigeon'"), load:
        pass


def test_a_mark_reports_running_totals_that_only_grow(feed, feed_server):
    with LoadGenerator(feed_server.url, [Group("short", "short", 2, interval=0.02)]) as load:
        first = load.mark()["short"]
        feed.publish("a")
        wait_until(lambda: load.mark()["short"]["deliveries"] == 2, what="both deliveries")
        second = load.mark()["short"]
    assert second["requests"] > first["requests"] >= 0
    assert second["bytes_up"] > first["bytes_up"] and second["bytes_down"] > first["bytes_down"]
    assert load.results["short"].requests >= second["requests"]


def test_an_unmetered_group_reads_the_stream_under_the_urls_path_directly():
    from servers import serve
    from servers.notify import make_app

    with serve(make_app(), name="test-loadgen-unmetered") as server:
        group = Group("sse", "sse", 2, metered=False)
        with LoadGenerator(f"{server.url}/channels/broadcast", [group]) as load:
            token = httpx.post(f"{server.url}/login", json={"user": "u"}).json()["token"]
            wait_until(lambda: "connected clients  2 " in httpx.get(f"{server.url}/metrics").text)
            posted = httpx.post(
                f"{server.url}/channels/broadcast/posts",
                json={"text": "hi"},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            wait_until(lambda: load.mark()["sse"]["deliveries"] == 2, what="both deliveries")
    result = load.results["sse"]
    check_delivered_once_in_order(result.received_ids(), [posted["id"]])
    assert (result.bytes_up, result.bytes_down, result.connections) == (0, 0, 0)  # no meter


def _result(clients: list[dict]) -> GroupResult:
    return GroupResult("g", clients, bytes_up=0, bytes_down=0, connections=1, cut_idle=0)


def test_a_post_brought_by_the_first_poll_after_its_publish_was_not_passed_over():
    client = {"sent_at": [10.0, 11.0, 12.0], "found": [0, 1, 0], "arrivals": [(1, 10.5, 11.0)]}
    assert _result([client]).passed_over() == []


def test_a_poll_sent_after_a_publish_that_came_back_empty_passed_the_post_over():
    client = {  # post 1 published at 10.5; the poll sent at 11.0 found nothing, the next one did
        "sent_at": [10.0, 11.0, 12.0],
        "found": [0, 0, 1],
        "arrivals": [(1, 10.5, 12.0)],
    }
    assert _result([client]).passed_over() == [(0, 1)]
    assert _result([client]).passed_over(slack=0.6) == []  # within the slack: not counted


def test_a_failed_poll_does_not_count_as_passing_a_post_over():
    client = {"sent_at": [11.0, 12.0], "found": [-1, 1], "arrivals": [(1, 10.5, 12.0)]}
    assert _result([client]).passed_over() == []
