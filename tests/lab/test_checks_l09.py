"""Exercise 09's check: a right location block passes; each typical mistake is named."""

from __future__ import annotations

import pytest
from support import needs

from lab.checks import CheckFailed, check_09_location
from servers.balancer import PROXY

UPGRADE = "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;"


def fails_with(block: str) -> str:
    with pytest.raises(CheckFailed) as failure:
        check_09_location(lambda: block)
    return str(failure.value)


def test_the_course_s_location_block_passes(capsys):
    needs("nginx")
    check_09_location(lambda: PROXY)
    assert "✔ exercise 09" in capsys.readouterr().out


def test_an_untouched_exercise_is_not_written_yet():
    def location_block():
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet") as failure:
        check_09_location(location_block)
    assert "Hint:" in str(failure.value)


def test_a_block_without_the_upgrade_headers_fails_the_handshake_naming_them():
    needs("nginx")
    message = fails_with("location / { proxy_pass http://backend; }")
    assert "not 101" in message
    assert "proxy_set_header Upgrade $http_upgrade;" in message
    assert "proxy_set_header Connection $connection_upgrade;" in message
    assert "proxy_http_version 1.1;" in message


def test_a_missing_connection_header_is_named_alone():
    needs("nginx")
    block = (
        "location / { proxy_pass http://backend; proxy_http_version 1.1; "
        "proxy_set_header Upgrade $http_upgrade; }"
    )
    message = fails_with(block)
    assert "missing proxy_set_header Connection $connection_upgrade;" in message
    assert "Upgrade $http_upgrade" not in message.split("Hint:")[1].split("—")[0]


def test_http_1_0_to_the_backend_holds_the_stream_and_the_hint_says_so():
    needs("nginx")
    message = fails_with(f"location / {{ proxy_pass http://backend; {UPGRADE} }}")
    assert "0 arrived" in message and "proxy_http_version 1.1;" in message


def test_gzip_on_an_event_stream_is_named():
    needs("nginx")
    message = fails_with(
        PROXY.replace("proxy_buffering off;", "gzip on; gzip_types text/event-stream;")
    )
    assert "gzip" in message.split("Hint:")[1]


def test_a_read_timeout_shorter_than_three_heartbeats_is_refused_before_running():
    message = fails_with(PROXY.replace("1h", "5s"))
    assert "proxy_read_timeout to 5 s" in message and "45s" in message


def test_a_config_nginx_refuses_is_shown_in_its_own_words_with_the_line():
    needs("nginx")
    message = fails_with(
        "location / {\n    proxy_pass http://backend;\n    proxy_http_verison 1.1;\n}"
    )
    assert 'unknown directive "proxy_http_verison"' in message
    assert "line 3 of your block: proxy_http_verison 1.1;" in message


def test_something_that_is_not_a_location_block_is_refused():
    with pytest.raises(CheckFailed, match="not the text of an nginx location block"):
        check_09_location(lambda: 42)
