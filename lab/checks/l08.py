"""Checks for exercise 08: a window's costs from a load generator's marks, and a verdict that
honours saturation and spread (lesson 08).

Each check runs the learner's function on synthetic numbers built so that every likely
mistake gives a different answer (and names it), then on one small real measurement, against
the course's own reading of the same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lab.checks.core import call, expect, fail, learner_line, passed, short
from lab.loadgen import Group, LoadGenerator
from lab.shootout import Round, Transport, run_round
from servers import serve
from servers.feed import Feed, make_app
from servers.timing import wait_until

SATURATED = 0.9
"""A clients' process at this share of a core or more measured itself, not the server."""
WORDS = ("confirmed", "refuted", "inconclusive")

# window_costs: marks 2.5 s apart, 20 clients, 8 posts; each mistake gives another number
BEFORE = {"requests": 300, "bytes_up": 40_000, "bytes_down": 60_000, "deliveries": 100}
AFTER = {"requests": 350, "bytes_up": 45_000, "bytes_down": 91_000, "deliveries": 250}
SECONDS, CLIENTS, POSTS = 2.5, 20, 8
COSTS_MISTAKES = {
    "requests_per_s": {
        140.0: "it divided the *total* requests by the window: subtract `before` from `after` "
        "first (the marks are running totals)",
        1.0: "it divided by the clients too: requests/s is what the server receives, from all "
        "clients together",
        50.0: "it is the requests in the window, not per second: divide by `seconds`",
    },
    "bytes_per_post": {
        4500.0: "it divided by the posts only: each post reached every client, so divide by "
        "`posts * clients`",
        1800.0: "it divided by the clients only: divide by `posts * clients`",
        240.0: "it divided by the deliveries counted in the window (150), which trail the "
        "posts published in it: divide by `posts * clients`",
        193.75: "it counted one direction only (bytes_down): the wire cost is both ways, "
        "bytes_up + bytes_down",
        850.0: "it divided the *total* bytes: subtract `before` from `after` first (the marks "
        "are running totals)",
    },
}
COSTS_RIGHT = {"requests_per_s": 20.0, "bytes_per_post": 36_000 / (POSTS * CLIENTS)}


def reference_costs(before: dict, after: dict, seconds: float, clients: int, posts: int) -> dict:
    """The course's reading of two marks (``lab.shootout.run_round`` does the same)."""
    wire = sum(after[k] - before[k] for k in ("bytes_up", "bytes_down"))
    return {"requests_per_s": (after["requests"] - before["requests"]) / seconds,
            "bytes_per_post": wire / (posts * clients)}  # fmt: skip


def _costs_answer(window_costs: Callable[..., Any], *args: Any) -> dict:
    answer = call("08.1", window_costs, *args)
    expect(
        isinstance(answer, dict) and set(COSTS_RIGHT) <= set(answer),
        "08.1",
        f"window_costs() returned {short(answer)}; expected a dict with the keys "
        '"requests_per_s" and "bytes_per_post".',
    )
    return answer


def check_08_window_costs(window_costs: Callable[..., Any]) -> None:
    """Exercise 08.1: ``window_costs(before, after, seconds, clients, posts)`` -> dict."""
    answer = _costs_answer(window_costs, dict(BEFORE), dict(AFTER), SECONDS, CLIENTS, POSTS)
    for key, right in COSTS_RIGHT.items():
        got = answer[key]
        number = isinstance(got, (int, float))
        mistake = next((why for wrong, why in COSTS_MISTAKES[key].items()
                        if number and abs(got - wrong) < 1e-6), None)  # fmt: skip
        expect(
            number and abs(got - right) < 1e-6,
            "08.1",
            f"{key} was {short(got)} for marks {BEFORE} → {AFTER} over {SECONDS} s, {CLIENTS} "
            f"clients, {POSTS} posts; expected {right:g}." + (f" {mistake}." if mistake else ""),
            "requests/s = (after - before requests) / seconds; bytes per post = (after - before, "
            "up + down) / (posts * clients).",
        )
    before, after, seconds, posts = _real_marks()
    mine = reference_costs(before, after, seconds, 3, posts)
    try:
        theirs = window_costs(before, after, seconds, 3, posts)
    except Exception as error:
        where = learner_line(error, "window_costs")
        raise fail("08.1", f"on real marks {before} → {after}, window_costs() raised "
                   f"{type(error).__name__}: {error}. {where}") from None  # fmt: skip
    expect(
        isinstance(theirs, dict)
        and all(abs(theirs.get(k, float("nan")) - v) < 1e-6 for k, v in mine.items()),
        "08.1",
        f"on a real measurement (3 clients polling every 0.1 s, {posts} posts, marks "
        f"{before} → {after}, {seconds:.2f} s) it returned {short(theirs)}; expected {mine}.",
    )
    real = f"{mine['requests_per_s']:.0f} requests/s, {mine['bytes_per_post']:.0f} bytes per post"
    passed("08.1", f"requests/s and bytes per post, synthetic and real ({real}, 3 real pollers)")


def _real_marks() -> tuple[dict, dict, float, int]:
    """Two marks of 3 real pollers around 3 posts, their seconds apart, and the posts."""
    import time

    feed = Feed()
    server = serve(make_app(feed), name="check-08")
    try:
        with LoadGenerator(server.url, [Group("p", "short", 3, interval=0.1)]) as load:
            wait_until(lambda: load.mark()["p"]["requests"] >= 3, 10, "the pollers' first polls")
            before, start = load.mark()["p"], time.monotonic()
            for n in range(3):
                feed.publish(f"post {n}")
                time.sleep(0.15)
            after, seconds = load.mark()["p"], time.monotonic() - start
    finally:
        server.stop()
    return before, after, seconds, 3


def reference_verdict(rows: list[dict], a: str, b: str, metric: str) -> tuple[str, str]:
    """Is ``a``'s ``metric`` lower than ``b``'s at every client count, beyond the spread?"""
    mine = [r for r in rows if r["transport"] in (a, b)]
    if busy := [r for r in mine if r["client_cpu"] >= SATURATED]:
        return "inconclusive", f"the load generator was saturated ({busy[0]})"
    counts = sorted({r["clients"] for r in mine})
    found = {}
    for n in counts:
        ours = [r[metric] for r in mine if r["transport"] == a and r["clients"] == n]
        theirs = [r[metric] for r in mine if r["transport"] == b and r["clients"] == n]
        found[n] = ("lower" if max(ours) < min(theirs) else
                    "higher" if min(ours) > max(theirs) else "overlap")  # fmt: skip
    if all(v == "lower" for v in found.values()):
        return "confirmed", f"lower at {counts}"
    if all(v == "higher" for v in found.values()):
        return "refuted", f"higher at {counts}"
    return "inconclusive", f"by count: {found}"


def _rows(metric: str, runs: dict[tuple[str, int], list[float]], cpu: float = 0.3) -> list[dict]:
    return [{"transport": t, "clients": n, "run": k, "client_cpu": cpu, metric: value}
            for (t, n), values in runs.items() for k, value in enumerate(values)]  # fmt: skip


A, B = "SSE", "short polling"
SCENARIOS = [  # (what it tests, rows, the right word, the mistake a different word reveals)
    ("clearly lower at every count", _rows("p50_ms", {(A, 10): [2, 3], (B, 10): [120, 130],
     (A, 1000): [150, 170], (B, 1000): [400, 430]}), "confirmed", "the verdict is backwards"),
    ("clearly higher at every count", _rows("p50_ms", {(A, 10): [200, 210], (B, 10): [120, 130],
     (A, 1000): [500, 520], (B, 1000): [400, 430]}), "refuted", "the verdict is backwards"),
    ("saturated", _rows("p50_ms", {(A, 10): [2, 3], (B, 10): [120, 130]}, cpu=0.97),
     "inconclusive", "it ignores saturation: a clients' process at 97 % of a core measured "
     "itself, so no comparison it made can decide"),
    ("overlapping runs", _rows("p50_ms", {(A, 100): [10, 30], (B, 100): [25, 40]}),
     "inconclusive", "it ignores the spread: the first runs (10 vs 25) and the means (20 vs "
     "32.5) differ, but the runs' ranges 10–30 and 25–40 overlap"),
    ("lower only at the largest count", _rows("p50_ms", {(A, 10): [200, 210], (B, 10): [120, 130],
     (A, 1000): [150, 170], (B, 1000): [400, 430]}), "inconclusive", "it judged one count only: "
     "A is lower at 1000 clients but higher at 10, so the claim does not hold at every count"),
    ("another transport saturated", _rows("p50_ms", {(A, 10): [2, 3], (B, 10): [120, 130]})
     + _rows("p50_ms", {("WebSocket", 10): [1, 2]}, cpu=0.99), "confirmed",
     "it lets any saturated row spoil the verdict: only the rows of the two transports compared "
     "(here a WebSocket row was saturated) decide it"),
]  # fmt: skip


def check_08_verdict(verdict: Callable[..., Any]) -> None:
    """Exercise 08.2: ``verdict(rows, a, b, metric)`` -> ``(word, reason)``."""
    for what, rows, right, mistake in SCENARIOS:
        answer = call("08.2", verdict, [dict(r) for r in rows], A, B, "p50_ms")
        expect(
            isinstance(answer, tuple) and len(answer) == 2 and answer[0] in WORDS
            and isinstance(answer[1], str) and answer[1].strip() != "",
            "08.2",
            f"verdict() returned {short(answer)}; expected a tuple (word, reason), the word one "
            f"of {WORDS} and the reason a sentence.",
        )  # fmt: skip
        expect(
            answer[0] == right,
            "08.2",
            f"{what}: verdict() said {answer[0]!r} ({short(answer[1], 80)}), expected {right!r}"
            f" — {mistake}.\nThe rows (transport, clients, p50_ms, client_cpu): {_brief(rows)}",
            "check saturation first (client_cpu >= 0.9 in a row of a or b), then compare the "
            "min–max of a's runs with b's at each client count.",
        )
    rows = real_rows()
    word = call("08.2", verdict, rows, "SSE", "short polling, 0.25 s", "p50_ms")[0]
    expected = reference_verdict(rows, "SSE", "short polling, 0.25 s", "p50_ms")[0]
    expect(
        word == expected,
        "08.2",
        f"on a real measurement it said {word!r}; the course's reading of the same rows says "
        f"{expected!r}. The rows: {rows}",
    )
    passed("08.2", f"every scenario, and a real measurement of SSE against a 0.25 s poller "
           f"({expected})")  # fmt: skip


def _brief(rows: list[dict]) -> list[tuple]:
    return [(r["transport"], r["clients"], r["p50_ms"], r["client_cpu"]) for r in rows]


def as_row(r: Round) -> dict:
    """A shoot-out round as the exercise's row."""
    return {"transport": r.transport, "clients": r.clients, "run": r.repeat,
            "client_cpu": r.client_cpu, "p50_ms": r.latency["p50"] * 1000,
            "bytes_per_post": r.bytes_per_post, "cpu": r.cpu}  # fmt: skip


def real_rows() -> list[dict]:
    """Two short runs each of SSE and the 0.25 s poller with 3 clients, as rows."""
    feed = Feed()
    server = serve(make_app(feed), name="check-08")
    try:
        pair = (Transport("SSE", "sse"), Transport("short polling, 0.25 s", "short", 0.25))
        return [as_row(run_round(feed, server.url, t, 3, rate=10, window=0.5, repeat=k))
                for t in pair for k in range(2)]  # fmt: skip
    finally:
        server.stop()
