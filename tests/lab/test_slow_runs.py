"""lab.slow_runs: a design with slow clients beside its twin, and the verdicts read from it."""

from __future__ import annotations

import asyncio

from lab.backpressure import FanOut, Holdings
from lab.slow_clients import CrowdResults
from lab.slow_runs import Run, comes_back, grows, harm, publish, run_beside_twin
from servers.stalls import SEND_BUFFER

SMALL = dict(fast=3, posts=120, rate=100.0, size=6000)


def design(name: str):
    return lambda: FanOut(name, queue_posts=16, holdings=Holdings(sndbuf=SEND_BUFFER))


def fake_run(queued: list[int], slow: int = 4) -> Run:
    """A run whose design's queues held ``queued`` bytes at 0.1 s steps over 1 s of posts."""
    posts = [{"id": 1, "text": "x" * 100, "ts": 0.0}, {"id": 2, "text": "x" * 100, "ts": 1.0}]
    samples = [(k / 10, q, q) for k, q in enumerate(queued)]
    results = CrowdResults({"sse": [], "ws": []}, [None] * slow, 1.0)
    return Run("fake", posts, posts, samples, samples, True, [None] * slow, 0, results)


def test_queues_that_fill_and_stay_full_do_not_grow_and_queues_that_keep_filling_do():
    assert grows(fake_run([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]))
    assert not grows(fake_run([0, 500, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]))
    assert not grows(fake_run([0, 0, 0, 0, 0, 10, 20, 30, 40, 50, 60]))  # under a post each


def test_the_naive_broadcast_makes_the_fast_clients_wait_and_its_twin_does_not():
    run = run_beside_twin(design("naive"), **SMALL)
    assert not run.all_arrived
    assert run.p99() > 2 * run.p99(twin=True)
    assert harm(run).startswith("hurts everyone")


def test_an_unbounded_queue_grows_beside_a_stalled_client_and_a_cursor_does_not():
    unbounded = run_beside_twin(design("unbounded"), **SMALL)
    cursor = run_beside_twin(design("cursor"), **SMALL)
    assert grows(unbounded) and "memory grew" in harm(unbounded)
    assert not grows(cursor) and cursor.all_arrived and unbounded.all_arrived
    assert cursor.peak_held() < unbounded.peak_held()


def test_publish_paces_the_posts_and_calls_back_after_each(feed):
    seen = []
    posts = publish(feed, 5, 1000.0, 40, each=seen.append)
    assert [p["id"] for p in posts] == [1, 2, 3, 4, 5] == [p["id"] for p in seen]
    assert all(len(p["text"]) == 40 - 12 + len("post 0 ") for p in posts)
    assert posts == sorted(posts, key=lambda p: p["ts"])


def test_coming_back_with_last_event_id_replays_what_came_after_it(feed, feed_server):
    for n in range(5):
        feed.publish(f"post {n}")
    events = asyncio.run(comes_back(feed_server.url, 2, events=3))
    assert [e.last_event_id for e in events] == ["3", "4", "5"]
