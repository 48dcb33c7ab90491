import math

import pytest

from lab.stats import check_delivered_once_in_order, summarize


def test_summaries_give_percentiles_not_only_the_mean():
    summary = summarize([float(v) for v in range(1, 101)])
    assert summary["n"] == 100 and summary["mean"] == 50.5
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == 100


def test_an_empty_sample_summarizes_as_nan():
    assert math.isnan(summarize([])["p50"])


def test_delivery_check_passes_exact_delivery_and_names_each_kind_of_fault():
    check_delivered_once_in_order([[1, 2, 3], [1, 2, 3]], [1, 2, 3])
    with pytest.raises(AssertionError) as failure:
        check_delivered_once_in_order([[1, 2, 3], [1, 3], [1, 2, 2, 3], [2, 1, 3]], [1, 2, 3])
    message = str(failure.value)
    assert message.startswith("3 of 4 clients")
    assert "client 1: missing [2]" in message
    assert "client 2: missing [], repeated [2]" in message
    assert "client 3: missing [], repeated [], unexpected [], in order: False" in message
