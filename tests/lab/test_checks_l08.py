"""lab.checks, exercise 08: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import pytest
from checks_support import assert_named

from lab import checks
from lab.checks import l08


def good_costs(before, after, seconds, clients, posts):
    wire = after["bytes_up"] - before["bytes_up"] + after["bytes_down"] - before["bytes_down"]
    return {
        "requests_per_s": (after["requests"] - before["requests"]) / seconds,
        "bytes_per_post": wire / (posts * clients),
    }


def totals_not_differences(before, after, seconds, clients, posts):
    return {
        "requests_per_s": after["requests"] / seconds,
        "bytes_per_post": (after["bytes_up"] + after["bytes_down"]) / (posts * clients),
    }


def divides_by_the_posts_only(before, after, seconds, clients, posts):
    return {
        **good_costs(before, after, seconds, clients, posts),
        "bytes_per_post": good_costs(before, after, seconds, 1, posts)["bytes_per_post"],
    }


def divides_by_the_clients_only(before, after, seconds, clients, posts):
    return {
        **good_costs(before, after, seconds, clients, posts),
        "bytes_per_post": good_costs(before, after, seconds, clients, 1)["bytes_per_post"],
    }


def divides_by_the_deliveries(before, after, seconds, clients, posts):
    delivered = after["deliveries"] - before["deliveries"]
    return {
        **good_costs(before, after, seconds, clients, posts),
        "bytes_per_post": good_costs(before, after, seconds, delivered, 1)["bytes_per_post"],
    }


def counts_one_direction(before, after, seconds, clients, posts):
    return {
        **good_costs(before, after, seconds, clients, posts),
        "bytes_per_post": (after["bytes_down"] - before["bytes_down"]) / (posts * clients),
    }


def requests_per_client(before, after, seconds, clients, posts):
    costs = good_costs(before, after, seconds, clients, posts)
    return {**costs, "requests_per_s": costs["requests_per_s"] / clients}


def requests_not_per_second(before, after, seconds, clients, posts):
    return {
        **good_costs(before, after, seconds, clients, posts),
        "requests_per_s": after["requests"] - before["requests"],
    }


def good_verdict(rows, a, b, metric):
    return l08.reference_verdict(rows, a, b, metric)


def ignores_saturation(rows, a, b, metric):
    return l08.reference_verdict([{**r, "client_cpu": 0.0} for r in rows], a, b, metric)


def compares_the_first_runs(rows, a, b, metric):
    return l08.reference_verdict([r for r in rows if r["run"] == 0], a, b, metric)


def compares_the_means(rows, a, b, metric):
    def mean(t, n):
        values = [r[metric] for r in rows if r["transport"] == t and r["clients"] == n]
        return sum(values) / len(values)

    if any(r["client_cpu"] >= 0.9 for r in rows if r["transport"] in (a, b)):
        return "inconclusive", "saturated"
    counts = {r["clients"] for r in rows if r["transport"] == a}
    lower = [mean(a, n) < mean(b, n) for n in counts]
    return ("confirmed" if all(lower) else "refuted" if not any(lower) else "inconclusive"), "x"


def compares_only_the_largest_count(rows, a, b, metric):
    most = max(r["clients"] for r in rows)
    return l08.reference_verdict([r for r in rows if r["clients"] == most], a, b, metric)


def any_saturated_row_spoils_it(rows, a, b, metric):
    if any(r["client_cpu"] >= 0.9 for r in rows):
        return "inconclusive", "saturated"
    return l08.reference_verdict(rows, a, b, metric)


def backwards(rows, a, b, metric):
    return l08.reference_verdict(rows, b, a, metric)


def no_reason(rows, a, b, metric):
    return l08.reference_verdict(rows, a, b, metric)[0]


def test_the_right_costs_pass_on_synthetic_and_real_marks(capsys):
    checks.check_08_window_costs(good_costs)
    assert "✔ exercise 08.1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("window_costs", "says"),
    [
        (totals_not_differences, "subtract `before` from `after`"),
        (divides_by_the_posts_only, "divided by the posts only"),
        (divides_by_the_clients_only, "divided by the clients only"),
        (divides_by_the_deliveries, "divided by the deliveries"),
        (counts_one_direction, "one direction only"),
        (requests_per_client, "divided by the clients too"),
        (requests_not_per_second, "not per second"),
    ],
)
def test_each_wrong_cost_is_rejected_naming_the_mistake(window_costs, says):
    assert_named(checks.check_08_window_costs, window_costs, exercise="08.1", says=says)


def test_the_right_verdict_passes_on_synthetic_and_real_rows(capsys):
    checks.check_08_verdict(good_verdict)
    assert "✔ exercise 08.2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("verdict", "says"),
    [
        (ignores_saturation, "it ignores saturation"),
        (compares_the_first_runs, "it ignores the spread"),
        (compares_the_means, "it ignores the spread"),
        (compares_only_the_largest_count, "it judged one count only"),
        (any_saturated_row_spoils_it, "only the rows of the two transports compared"),
        (backwards, "the verdict is backwards"),
        (no_reason, "expected a tuple (word, reason)"),
    ],
)
def test_each_wrong_verdict_is_rejected_naming_the_mistake(verdict, says):
    assert_named(checks.check_08_verdict, verdict, exercise="08.2", says=says)


@pytest.mark.parametrize("check", [checks.check_08_window_costs, checks.check_08_verdict])
def test_an_unwritten_function_is_told_it_is_not_written_yet(check):
    def blank(*args):
        raise NotImplementedError

    with pytest.raises(checks.CheckFailed, match="not written yet"):
        check(blank)


def test_a_real_round_reads_as_a_row_with_every_column_a_verdict_needs():
    row = l08.real_rows()[0]
    assert set(row) == {"transport", "clients", "run", "client_cpu", "p50_ms", "bytes_per_post",
                        "cpu"} and row["p50_ms"] > 0  # fmt: skip
