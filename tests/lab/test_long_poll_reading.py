"""Lesson 02's sentences follow the numbers: each verdict appears only when the run shows it."""

from lab.long_poll_reading import (
    alone_sentence,
    cuts_sentence,
    delay_sentence,
    delay_title,
    delay_verdict,
    gap_posts_sentence,
    gap_sentence,
    herd_sentence,
    herd_title,
    requests_sentence,
)

FAST = [2.0 + i / 100 for i in range(100)]  # 2.00-2.99 ms
SLOW = [10.0 + 2.4 * i for i in range(100)]  # 10-247.6 ms, as a 0.25 s poller spreads


def test_long_polling_is_faster_only_when_nine_in_ten_beat_the_fastest_tenth():
    assert delay_verdict(FAST, SLOW) == "faster"
    assert "faster beyond the spread" in delay_sentence(FAST, SLOW, 0.25)
    assert delay_title(FAST, SLOW, 0.25) == (
        "Median delay: long polling 2.5 ms, short polling every 0.25 s 129 ms "
        "(faster beyond the spread)")


def test_overlapping_delays_are_within_the_spread():
    overlapping = [5.0 + 2.0 * i for i in range(100)]  # median below SLOW's, tail far into it
    assert delay_verdict(overlapping, SLOW) == "within the spread"
    assert "within the spread" in delay_sentence(overlapping, SLOW, 0.25)
    assert "faster" not in delay_title(overlapping, SLOW, 0.25).replace("not faster", "")


def test_a_run_where_long_polling_was_slower_says_inconclusive():
    assert delay_verdict(SLOW, FAST) == "not faster"
    assert "inconclusive" in delay_sentence(SLOW, FAST, 0.25)
    assert "inconclusive" in delay_title(SLOW, FAST, 0.25)


def test_requests_per_post_are_computed_and_no_delivery_is_inconclusive():
    assert requests_sentence("long polling", 260, 240, 0).startswith(
        "long polling: 1.08 requests per delivered post, 0 of 260 answers empty")
    assert "inconclusive" in requests_sentence("short polling", 50, 0, 50)


def test_one_poller_alone_explains_the_crowd_only_when_it_is_clearly_quicker():
    assert "waiting its turn" in alone_sentence([0.5, 0.6, 0.7], FAST, 20)
    assert "within the spread" in alone_sentence([1.0, 2.2, 2.5], FAST, 20)
    assert "inconclusive" in alone_sentence([3.5, 4.0], FAST, 20)


def test_gaps_are_summarised_and_an_unexercised_gap_is_said():
    assert "median 0.20 ms, longest 0.40 ms, over 3 gaps" in gap_sentence([0.1, 0.2, 0.4])
    assert "no gap was measured" in gap_sentence([])
    assert "delivered those too" in gap_posts_sentence(3, 0, 60)
    assert "delivered those too" in gap_posts_sentence(0, 5, 60)
    assert "never exercised the gap" in gap_posts_sentence(0, 0, 60)


def test_the_herd_is_described_from_its_own_numbers():
    said = herd_sentence([5.0, 1.0, 9.0], [12.0, 3.0, 11.0], [0.5, 0.7, 0.9])
    assert said.startswith("3 answers received from 1.0 to 9.0 ms after the post (the last "
                           "8.0 ms after the first); all 3 clients asked again by 12.0 ms")
    assert "median 0.70 ms" in said
    assert herd_title([5.0, 1.0, 9.0], [12.0, 3.0, 11.0]) == (
        "One post, 3 waiting clients: answers within 9 ms, every new request by 12 ms")


def test_most_cuts_absorbed_is_said_only_when_fewer_than_half_became_errors():
    assert "most cuts were absorbed" in cuts_sentence(40, 5, 50, 60)
    assert "fewer than half" in cuts_sentence(40, 30, 50, 60)
    assert cuts_sentence(0, 0, 10, 70).startswith("no cut by the proxy; 10 connections")
