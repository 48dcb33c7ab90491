"""lab.drill: lesson 14's failure drill loses nothing and repeats nothing for any reader across
a backend kill, a Redis restart and a full restart, and reports a gap where the history
cannot cover; its check catches a reader that loses or repeats, and a service that does."""

from __future__ import annotations

import asyncio
import functools
import re

import aiohttp
import httpx
import pytest
from notify_support import login, post, read, texts
from support import needs

from lab.drill import Count, Drill, DrillFailed, describe, run_drill
from lab.drill_clients import Publisher, Reader
from lab.notify_cluster import NotifyCluster
from servers.backplane import relay
from servers.notify import channels
from servers.timing import scaled

SMALL = {"clients": 6, "rate": 10.0, "steady": 0.5}


@pytest.fixture(scope="module")
def cluster():
    needs("redis-server")
    needs("nginx")
    started = NotifyCluster.start(2, history=30, prefix="test-drill", name="test_drill")
    yield started
    started.stop()


@pytest.fixture
def fallback(monkeypatch):
    monkeypatch.setenv("COURSE_FALLBACK", "all")
    started = NotifyCluster.start(2, history=30, prefix="test-drf", name="test_drill fallback")
    yield started
    started.stop()


def assert_nothing_lost_or_repeated(drill: Drill) -> None:
    drill.check()
    assert [row["step"] for row in drill.rows] == ["kill", "redis", "restart", "away"]
    for count in drill.counts:  # for every reader, after every step
        assert (count.lost, count.duplicates) == ([], []), count
    kill, redis, restart, away = drill.rows
    assert kill["moved"] >= 1 and kill["reconnects"] >= kill["moved"]  # the failures happened
    assert redis["retried"] >= 1 and redis["reconnects"] == 0  # refused posts; streams held
    assert restart["readers"] == SMALL["clients"]
    assert all(c.shutdowns >= 1 for c in drill.counts if c.step == "restart")  # told, each
    assert all(row["posts"] > 0 and row["resets"] == 0 for row in drill.rows)
    assert all(row["gaps"] == 0 for row in drill.rows[:3])  # the history covered every resume
    assert (away["gaps"], away["told in a gap"], away["lost"]) == (1, 5, 0)


def test_no_reader_loses_or_repeats_a_post_through_nginx_and_redis(cluster):
    drill = asyncio.run(run_drill(cluster, **SMALL))
    assert drill.kind.startswith("nginx in front of 2 backend processes on Redis")
    assert_nothing_lost_or_repeated(drill)
    told = describe(drill)
    assert "reconnected through nginx to another backend" in told
    assert told.count("no reader lost a post or got one twice") == 3
    twice = sum(row["taken twice"] for row in drill.rows)
    assert ("no post was taken twice" in told) == (twice == 0), told


def test_no_reader_loses_or_repeats_a_post_on_the_fallbacks(fallback):
    drill = asyncio.run(run_drill(fallback, **SMALL))
    assert "Python TCP balancer" in drill.kind and "in-process backplane" in drill.kind
    assert_nothing_lost_or_repeated(drill)
    assert "through the Python TCP balancer to another backend" in describe(drill)  # named only


@pytest.mark.parametrize(
    ("flaw", "says"),
    [
        ("forgets its id", r"lost \d+ ids? \(.*never received, no gap told"),
        ("resumes one early", r"got id \d+ twice"),
        ("drops one", r"lost id \d+ \(published, never received"),
    ],
)
def test_the_check_names_a_reader_that_loses_or_repeats_posts(cluster, flaw, says):
    run = run_drill(cluster, **SMALL, steps=("kill",), away=False, flaw=flaw, settle=3)
    drill = asyncio.run(run)
    with pytest.raises(DrillFailed, match=r"reader r0 \(broadcast\), step 'kill': " + says):
        drill.check()
    assert {c.reader for c in drill.counts if c.lost or c.duplicates} == {"r0"}


def test_the_drill_shows_a_service_whose_relays_do_not_catch_up(fallback, monkeypatch):
    """Lesson 10's replay-less relay: a backend restarted with it holds only what was posted
    after its channel opened. A reader resuming there either loses what came before (its id is
    newer than anything the channel holds, so its stream is reset), which the check names; or,
    when a post arrived first, is told of a gap, which a working relay never needs here (the
    history holds every post of the step). Which one happens is timing: both must show."""
    monkeypatch.setattr(channels, "relay", functools.partial(relay, replay=False))
    fallback.restart_all()  # the backends' channels open again, on the broken relay
    drill = asyncio.run(run_drill(fallback, **SMALL, steps=("restart",), away=False, settle=3))
    [row] = drill.rows
    try:
        drill.check()
    except DrillFailed as failed:
        assert re.search(r"step 'restart': lost \d+ ids?", str(failed)), failed
        assert "posts lost and" in describe(drill)  # the prose follows the run
    else:
        assert row["gaps"] > 0 and row["posts"] < fallback.history, drill.table()


def test_the_check_names_an_away_reader_that_was_told_of_no_gap():
    drill = Drill("kind", 1, 1.0, counts=[Count("away", "away", "away", [], [], 0, 0, 1)])
    with pytest.raises(DrillFailed, match="reader away .* away past the history and got no gap"):
        drill.check()


def test_a_reader_refused_for_good_stops_reading_and_the_check_names_it(cluster):
    async def read_with_a_forged_token() -> Reader:
        reader = Reader("forger", "alice", "forged.token", 0)
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(reader.read(session, cluster.url), scaled(10))
        return reader

    reader = asyncio.run(read_with_a_forged_token())  # returns: EventSource gives up on a 401
    assert reader.refused.startswith("401 ") and reader.received == []
    drill = Drill("kind", 1, 1.0, counts=[Count("kill", "forger", "alice", [], [], 0, 0, 1,
                                                refused=reader.refused)])  # fmt: skip
    with pytest.raises(DrillFailed, match=r"reader forger \(alice\), .*refused: 401 .*token"):
        drill.check()


def test_an_unknown_flaw_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="flaw must be one of"):
        asyncio.run(run_drill(None, flaw="forgets its name"))


def test_a_retry_of_a_post_whose_answer_was_lost_is_answered_from_its_idempotency_key():
    """The service takes the first post, and its answer is lost (the connection is cut after the
    handler ran): the publisher's retry carries the same key, so it gets the same post back
    and the channel holds the text once. (Mutant: a new key per attempt publishes it twice.)"""
    from aiohttp import web

    from servers import serve
    from servers.notify import MemoryBrokers, make_app

    keys: list[str] = []

    @web.middleware
    async def lose_the_first_answer(request, handler):
        response = await handler(request)
        if request.method == "POST" and request.path.endswith("/posts"):
            keys.append(request.headers.get("Idempotency-Key"))
            if len(keys) == 1:
                request.transport.abort()  # taken, and the 201 never leaves
        return response

    app = make_app(brokers=MemoryBrokers())
    app.middlewares.insert(0, lose_the_first_answer)

    async def publish(url: str) -> tuple[Publisher, dict]:
        async with httpx.AsyncClient(timeout=scaled(10)) as http:
            token = (await http.post(f"{url}/login", json={"user": "drill"})).json()["token"]
            publisher = Publisher(url, token, ["broadcast"], rate=1.0)
            return publisher, await publisher.post(http, "broadcast", "only once")

    with serve(app, name="test-drill-lost-answer") as server:
        publisher, taken = asyncio.run(publish(server.url))
        post(server.url, "broadcast", "after", login(server.url, "someone"))
        held = texts(read(server.url, "broadcast", 2))
    assert keys[0] is not None and keys[:2] == [keys[0]] * 2, keys  # one key, sent again
    assert (publisher.retries, publisher.replayed, taken["id"]) == (1, 1, 1)
    assert held == [(1, "only once"), (2, "after")]


@pytest.mark.parametrize(
    ("replayed", "twice", "says"),
    [
        (0, 0, "no retry needed its `Idempotency-Key` in this run"),
        (2, 0, "2 retries were of posts the service had already taken"),
        (0, 3, "3 posts reached readers under ids the publisher was never given"),
        (2, 1, "1 posts reached readers under ids the publisher was never given"),  # a fault wins
    ],
)
def test_the_description_says_what_the_publishers_retries_did(replayed, twice, says):
    row = {"step": "redis", "failure": "x", "replayed": replayed, "taken twice": twice,
           "lost": 0, "duplicates": 0, "posts": 1, "retried": 1, "reconnects": 0,
           "moved": 0, "readers": 1, "gaps": 0, "told in a gap": 0, "resets": 0,
           "shutdown events": 0, "settled (s)": "0.1"}  # fmt: skip
    told = describe(Drill("nginx in front of 2 backends", 1, 1.0, rows=[row]))
    assert says in told
    assert ("no post was taken twice" in told) == (twice == 0)
