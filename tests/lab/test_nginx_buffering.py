"""lab.nginx_buffering: verdicts from arrival times, the sentence written from them, and a real
nginx holding the stream with both defaults; lab.nginx_cache: a stored stream replayed."""

from __future__ import annotations

from support import needs

from lab import nginx_buffering as nb
from lab.nginx_cache import served_twice
from servers.clock import SSE_HEADERS

WRITTEN = [0.25 * n + 0.01 for n in range(8)]
AT_THE_END = [1.8] * 8


def test_events_arriving_together_after_the_last_write_are_held():
    assert nb.verdict(AT_THE_END) == nb.HELD
    assert nb.verdict([1.8] * 7 + [1.85]) == nb.HELD


def test_events_arriving_as_they_were_written_are_streamed():
    assert nb.verdict(WRITTEN) == nb.STREAMED


def test_times_that_show_neither_are_inconclusive():
    assert nb.verdict([0.1] * 8) == nb.INCONCLUSIVE  # together, but before the last write
    assert nb.verdict([0.1, 0.2, 0.3, 1.8, 1.8, 1.8, 1.8, 1.8]) == nb.INCONCLUSIVE
    assert nb.verdict(WRITTEN[:7]) == nb.INCONCLUSIVE  # an event missing


def test_the_location_block_spells_out_both_settings():
    block = nb.location_block("1.1", "off", "gzip on;")
    assert "proxy_http_version 1.1;" in block and "proxy_buffering off;" in block
    assert block.endswith("gzip on; }")


def runs(*verdicts):
    return {f"row {n}": nb.Run(WRITTEN, "HTTP/1.0", v) for n, v in enumerate(verdicts)}


def test_the_sentence_names_the_held_rows_when_every_row_is_as_expected():
    measured = runs(nb.HELD, nb.STREAMED)
    sentence = nb.compare(measured, {"row 0": nb.HELD, "row 1": nb.STREAMED})
    assert sentence.startswith("As explained below") and 'only in rows "row 0";' in sentence


def test_the_sentence_says_inconclusive_when_a_row_shows_neither():
    sentence = nb.compare(runs(nb.HELD, nb.INCONCLUSIVE), {"row 0": nb.HELD, "row 1": nb.STREAMED})
    assert sentence.startswith("Inconclusive") and "row 1: expected 'each when written'" in sentence


def test_the_sentence_says_contradicts_when_a_row_went_the_other_way():
    sentence = nb.compare(runs(nb.STREAMED, nb.STREAMED), {"row 0": nb.HELD, "row 1": nb.STREAMED})
    assert sentence.startswith("This run contradicts") and "row 0" in sentence
    assert "row 1" not in sentence


def test_the_table_has_a_line_per_run_with_its_times_and_verdict():
    lines = nb.table(runs(nb.HELD, nb.STREAMED)).splitlines()
    assert len(lines) == 3 and lines[0].startswith("version, buffering")
    assert lines[1].endswith(nb.HELD) and "1.76" in lines[2]


def test_with_both_nginx_defaults_the_stream_is_held_and_asked_for_in_http_1_0():
    needs("nginx")
    held = nb.through_nginx(nb.location_block("1.0", "on"))
    assert (held.asked, held.verdict, len(held.times)) == ("HTTP/1.0", nb.HELD, 8)
    assert nb.through_nginx(nb.location_block("1.1", "on")).asked == "HTTP/1.1"


def test_a_caching_nginx_replays_a_stream_without_cache_control_and_not_one_with_no_store():
    needs("nginx")
    plain = {k: v for k, v in SSE_HEADERS.items() if k != "Cache-Control"}
    first, second = served_twice(plain)
    assert (first.cache, second.cache, second.data) == ("MISS", "HIT", first.data)
    first, second = served_twice({**plain, "Cache-Control": "no-store"})
    assert (first.cache, second.cache) == ("MISS", "MISS") and second.data != first.data
