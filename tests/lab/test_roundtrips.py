"""lab.roundtrips: alternated rounds, and verdicts that every round must agree on."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from lab import echo, roundtrips
from lab.roundtrips import FASTER, INCONCLUSIVE, SLOWER, Comparison


def comparison(**per_round_p50s: list[float]) -> Comparison:
    """A comparison whose every round holds one sample (so a round's p50 is that sample)."""
    result = Comparison(floor=next(iter(per_round_p50s)))
    result.rounds = {name: [[v] for v in values] for name, values in per_round_p50s.items()}
    return result


def test_an_echo_is_slower_only_when_every_round_says_so():
    run = comparison(floor=[30e-6, 31e-6, 32e-6], ws=[50e-6, 52e-6, 49e-6])
    assert run.gap("ws").verdict == SLOWER
    assert "slower in every one of 3 rounds" in run.sentence("ws")
    assert run.title() == "Round trips against floor at p50:\nws +19 µs"


def test_rounds_that_disagree_make_the_comparison_inconclusive_even_when_the_pooled_gap_is_large():
    run = comparison(floor=[30e-6, 80e-6, 30e-6], ws=[70e-6, 50e-6, 70e-6])
    gap = run.gap("ws")
    assert gap.pooled > 0 and gap.lo < 0 < gap.hi
    assert gap.verdict == INCONCLUSIVE
    assert "inconclusive" in run.sentence("ws") and "within the spread" in run.title()
    assert "µs" not in run.title().split("ws")[1]


def test_an_echo_faster_than_the_floor_in_every_round_is_reported_as_faster_not_hidden():
    run = comparison(floor=[80e-6, 80e-6], ws=[48e-6, 50e-6])
    assert run.gap("ws").verdict == FASTER
    assert "faster in every one of 2 rounds" in run.sentence("ws")
    assert "-31 µs" in run.title()


def test_rounds_take_turns_and_the_order_rotates_each_round():
    order: list[str] = []

    def recorder(name):
        @asynccontextmanager
        async def opener():
            async def exchange():
                order.append(name)
            yield exchange
        return opener()

    run = asyncio.run(roundtrips.alternate({n: recorder(n) for n in "abc"}, rounds=3,
                                           per_round=2, warmup=1))
    assert order == list("abc") + list("aabbcc") + list("bbccaa") + list("ccaabb")
    assert run.floor == "a" and [len(r) for r in run.rounds["b"]] == [2, 2, 2]


def test_real_echoes_are_timed_in_alternated_rounds_and_every_reply_is_checked():
    with (echo.serve_tcp_echo(name="test-rt-tcp") as tcp,
          echo.serve_ws_echo(name="test-rt-ws") as ws):
        run = asyncio.run(roundtrips.alternate(
            {"raw TCP": echo.tcp_exchange(tcp.host, tcp.port),
             "WebSocket": echo.ws_exchange(echo.ws_url(ws))}, rounds=2, per_round=5, warmup=2))
    assert [len(run.samples(n)) for n in run.names] == [10, 10]
    assert all(s > 0 for s in run.samples("WebSocket"))
    assert run.gap("WebSocket").verdict in (SLOWER, FASTER, INCONCLUSIVE)
