"""Lesson 02's sentences and plot titles, written from the run's own numbers.

Every comparison the lesson makes — long polling against short polling, a crowd of pollers
against one alone, the herd's answers against its new requests, the proxy's cuts against the
errors a client saw — is a function here of what was measured, so a run that came out
otherwise says so ("within the spread", "inconclusive") instead of contradicting the prose.
Times are in milliseconds unless a name says otherwise.
"""

from __future__ import annotations

import numpy as np


def _cuts(values_ms: list[float]) -> tuple[float, float, float]:
    """The 10th, 50th and 90th percentiles."""
    p10, p50, p90 = np.percentile(np.asarray(values_ms, dtype=float), [10, 50, 90])
    return float(p10), float(p50), float(p90)


def delay_verdict(long_ms: list[float], short_ms: list[float]) -> str:
    """"faster" when nine in ten long-poll delays beat the fastest tenth of the short-poll
    ones, "within the spread" when only the medians say so, "not faster" otherwise."""
    _, long_p50, long_p90 = _cuts(long_ms)
    short_p10, short_p50, _ = _cuts(short_ms)
    if long_p90 < short_p10:
        return "faster"
    if long_p50 < short_p50:
        return "within the spread"
    return "not faster"


def delay_sentence(long_ms: list[float], short_ms: list[float], interval: float) -> str:
    """What the run says about long polling's delay beside short polling's (cell "How close
    to instant?")."""
    _, long_p50, long_p90 = _cuts(long_ms)
    short_p10, short_p50, _ = _cuts(short_ms)
    said = (f"long polling: median {long_p50:.1f} ms, nine in ten within {long_p90:.1f} ms; "
            f"short polling every {interval:g} s: median {short_p50:.0f} ms, the fastest tenth "
            f"within {short_p10:.0f} ms")
    verdict = delay_verdict(long_ms, short_ms)
    if verdict == "faster":
        return (said + ": nine in ten long polls arrived before the fastest tenth of the short "
                f"polls — faster beyond the spread ({short_p50 / long_p50:.0f} times at the "
                "median).")
    if verdict == "within the spread":
        return said + ": the medians differ but the ranges overlap — within the spread."
    return said + ": long polling was not faster in this run — inconclusive (a busy machine?)."


def delay_title(long_ms: list[float], short_ms: list[float], interval: float) -> str:
    """The delay plot's title: the two medians and the verdict."""
    long_p50, short_p50 = _cuts(long_ms)[1], _cuts(short_ms)[1]
    verdict = {"faster": "faster beyond the spread", "within the spread": "within the spread",
               "not faster": "not faster: inconclusive"}[
        delay_verdict(long_ms, short_ms)]
    return (f"Median delay: long polling {long_p50:.1f} ms, short polling every {interval:g} s "
            f"{short_p50:.0f} ms ({verdict})")


def requests_sentence(name: str, requests: int, deliveries: int, empty: int) -> str:
    """Requests paid per delivered post, and how many answers came back empty."""
    if deliveries == 0:
        return f"{name}: {requests} requests and no post delivered — inconclusive."
    return (f"{name}: {requests / deliveries:.2f} requests per delivered post, "
            f"{empty} of {requests} answers empty")


def alone_sentence(alone_ms: list[float], crowd_ms: list[float], crowd: int) -> str:
    """One long poller alone beside ``crowd`` of them: is the crowd's delay queueing?"""
    alone, together = _cuts(alone_ms)[1], _cuts(crowd_ms)[1]
    said = f"one long poller alone: median {alone:.1f} ms; {crowd} together: {together:.1f} ms"
    if alone_ms and max(alone_ms) < _cuts(crowd_ms)[0]:
        return (said + f" — even its slowest delivery beat the fastest tenth of the {crowd}: "
                "most of the crowd's delay is waiting its turn on one loop and one client "
                "process.")
    if alone < together:
        return said + " — lower, but the ranges overlap: within the spread."
    return said + " — no lower in this run: inconclusive."


def gap_sentence(gaps_ms: list[float]) -> str:
    """How long a client had no request waiting at the server, answer to next request."""
    if not len(gaps_ms):
        return "no client received an answer before its next request: no gap was measured"
    gaps = np.asarray(gaps_ms, dtype=float)
    return (f"between an answer and the next request: median {np.median(gaps):.2f} ms, "
            f"longest {gaps.max():.2f} ms, over {len(gaps)} gaps")


def gap_posts_sentence(in_a_gap: int, several: int, answers: int) -> str:
    """Whether the bursts exercised the gap: posts published in one, answers carrying several."""
    said = (f"{in_a_gap} times a post was published while a client had no request waiting; "
            f"{several} of {answers} answers carried more than one post")
    if in_a_gap or several:
        return said + ": since= delivered those too, once each, in order."
    return said + ": this run never exercised the gap (run the cell again)."


def herd_sentence(answered_ms: list[float], asked_again_ms: list[float],
                  turnaround_ms: list[float]) -> str:
    """The herd: how spread out the answers were, and how soon the new requests followed."""
    answered, asked = np.sort(answered_ms), np.sort(asked_again_ms)
    return (f"{len(answered)} answers received from {answered[0]:.1f} to {answered[-1]:.1f} ms "
            f"after the post (the last {answered[-1] - answered[0]:.1f} ms after the first); "
            f"all {len(asked)} clients asked again by {asked[-1]:.1f} ms, each a median "
            f"{np.median(turnaround_ms):.2f} ms after its own answer")


def herd_title(answered_ms: list[float], asked_again_ms: list[float]) -> str:
    """The herd plot's title, from the run."""
    return (f"One post, {len(answered_ms)} waiting clients: answers within "
            f"{max(answered_ms):.0f} ms, every new request by {max(asked_again_ms):.0f} ms")


def cuts_sentence(cut: int, errors: int, connections: int, requests: int) -> str:
    """How many of the proxy's cuts reached the client's code as errors."""
    if cut == 0:
        return f"no cut by the proxy; {connections} connections for {requests} requests"
    said = (f"the proxy cut {cut} connections and {errors} errors reached the client's code "
            f"({connections} connections for {requests} requests)")
    if errors < cut / 2:
        return said + ": most cuts were absorbed by a resend on a fresh connection."
    return said + ": a resend absorbed fewer than half of the cuts."
