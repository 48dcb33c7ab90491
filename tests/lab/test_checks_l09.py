"""Exercise 09's check: a right location block passes; each typical mistake is named."""

from __future__ import annotations

import pytest
from support import needs

from lab.checks import CheckFailed, check_09_location
from lab.front import PROXY

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


def test_a_block_that_speaks_http_1_0_fails_although_aiohttp_accepted_the_upgrade():
    needs("nginx")
    message = fails_with(PROXY.replace("proxy_http_version 1.1;", ""))
    assert "RFC 6455" in message and "HTTP/1.1 request" in message
    assert "nginx's default" in message and "aiohttp" in message
    assert "proxy_http_version 1.1;" in message.split("Hint:")[1]


def test_a_buffering_block_fails_although_the_events_arrived_in_time():
    needs("nginx")
    message = fails_with(PROXY.replace("proxy_buffering off;", "proxy_buffering on;"))
    assert "leaves proxy_buffering on" in message and "slow client" in message
    assert "proxy_buffering off;" in message.split("Hint:")[1]


def test_a_directive_in_a_comment_does_not_count():
    needs("nginx")
    message = fails_with(PROXY.replace("proxy_buffering off;", "# proxy_buffering off;"))
    assert "leaves proxy_buffering on" in message


def test_without_nginx_the_rules_are_still_read_and_ci_refuses_to_pass(monkeypatch, capsys):
    monkeypatch.setattr("servers.system.find_tool", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    assert "proxy_http_version 1.1" in fails_with(PROXY.replace("proxy_http_version 1.1;", ""))
    check_09_location(lambda: PROXY)
    assert "only read, not run" in capsys.readouterr().out
    monkeypatch.setenv("CI", "1")
    assert "needs the real thing" in fails_with(PROXY)


def test_gzip_on_an_event_stream_is_named():
    needs("nginx")
    message = fails_with(
        PROXY.replace("proxy_buffering off;", "gzip on; gzip_types text/event-stream;")
    )
    assert "gzip" in message.split("Hint:")[1]


def test_a_read_timeout_shorter_than_three_heartbeats_is_refused_before_running():
    message = fails_with(PROXY.replace("1h", "5s"))
    assert "proxy_read_timeout to 5 s" in message and "45s" in message
    assert "shorter than the time between heartbeats" in message
    assert "never cuts a quiet connection" in message  # proxy_send_timeout can stay


def test_a_read_timeout_of_one_or_two_heartbeats_is_refused_as_too_tight():
    message = fails_with(PROXY.replace("1h", "20s"))
    assert "only 1.3 heartbeats" in message and "late or lost" in message


def test_the_shortest_read_timeout_of_several_locations_counts():
    two = PROXY + '\nlocation /events { proxy_pass http://backend; proxy_read_timeout "10s"; }'
    assert "proxy_read_timeout to 10 s" in fails_with(two)


def test_a_config_nginx_refuses_is_shown_in_its_own_words_with_the_line():
    needs("nginx")
    message = fails_with(
        "location / {\n    proxy_pass http://backend;\n    proxy_http_verison 1.1;\n}"
    )
    assert 'unknown directive "proxy_http_verison"' in message
    assert "line 3 of your block: proxy_http_verison 1.1;" in message
    assert "missing `;`" not in message


def test_a_missing_semicolon_is_traced_back_to_the_directive_that_lacks_it():
    needs("nginx")
    message = fails_with(
        "location / {\n    proxy_pass http://backend\n    proxy_http_version 1.1;\n}"
    )
    assert 'invalid number of arguments in "proxy_pass" directive' in message
    assert "line 2 of your block: proxy_pass http://backend" in message
    assert "nginx points at line 3: a missing `;` makes nginx read on into the next line" in message


def test_a_missing_semicolon_before_the_closing_brace_is_pointed_at():
    needs("nginx")
    message = fails_with("location / {\n    proxy_pass http://backend;\n    proxy_buffering off\n}")
    assert 'unexpected "}"' in message
    assert "the line before it has no `;`: proxy_buffering off" in message


def test_something_that_is_not_a_location_block_is_refused():
    with pytest.raises(CheckFailed, match="not the text of an nginx location block"):
        check_09_location(lambda: 42)


@pytest.mark.parametrize("value", ['"upgrade"', "upgrade", "'Upgrade'"])
def test_a_hard_coded_connection_upgrade_is_refused_and_the_map_named(value):
    needs("nginx")
    message = fails_with(PROXY.replace("$connection_upgrade", value))
    assert "location / hard-codes" in message and "every plain GET and POST" in message
    assert "`Connection: close`" in message and "map $http_upgrade $connection_upgrade" in message
    assert message.endswith("Hint: proxy_set_header Connection $connection_upgrade;")


def test_a_hard_coded_upgrade_in_a_location_for_websockets_only_passes(capsys):
    needs("nginx")
    websockets_only = PROXY.replace("location /", "location /ws/").replace(
        "$connection_upgrade", '"upgrade"'
    )
    check_09_location(lambda: websockets_only + "\n" + PROXY)
    assert "✔ exercise 09" in capsys.readouterr().out


def test_a_proxy_pass_to_an_address_nobody_listens_on_is_told_to_use_the_upstream_group():
    needs("nginx")
    message = fails_with(PROXY.replace("http://backend", "http://127.0.0.1:9"))
    assert "got 502" in message and "not 101" in message
    assert "proxy_pass http://backend;" in message.split("Hint:")[1]


def test_a_proxy_pass_to_an_upstream_that_does_not_exist_names_the_one_that_does():
    needs("nginx")
    message = fails_with(PROXY.replace("http://backend", "http://backends"))
    assert 'host not found in upstream "backends"' in message
    assert "line 2 of your block: proxy_pass http://backends;" in message
    assert "one upstream group, `backend`" in message.split("Hint:")[1]


def test_a_location_that_does_not_serve_events_gets_a_404_named_as_such():
    needs("nginx")
    message = fails_with(PROXY.replace("location /", "location /ws/"))
    assert "GET /events through nginx got 404 from nginx itself" in message
    assert "no location of your block matches /events" in message


def test_a_location_that_does_not_serve_the_websocket_gets_a_404_named_as_such():
    needs("nginx")
    message = fails_with(PROXY.replace("location /", "location /events"))
    assert "got 404 (404 Not Found), not 101" in message and "<html>" not in message
    assert "nginx found no location for /ws/whoami" in message


def test_buffering_off_in_another_location_does_not_unbuffer_the_stream():
    needs("nginx")
    websockets = PROXY.replace("location /", "location /ws/")
    message = fails_with(websockets + "\n" + PROXY.replace("proxy_buffering off;", ""))
    assert "location /, which serves /events, leaves proxy_buffering on" in message
    assert message.endswith("Hint: add proxy_buffering off; to location /.")


def test_without_nginx_a_hard_coded_upgrade_is_still_read(monkeypatch):
    monkeypatch.setattr("servers.system.find_tool", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    assert "hard-codes" in fails_with(PROXY.replace("$connection_upgrade", '"upgrade"'))


def test_a_hard_coded_upgrade_header_is_refused_and_http_upgrade_named():
    needs("nginx")
    message = fails_with(PROXY.replace("Upgrade $http_upgrade", "Upgrade websocket"))
    assert "hard-codes `proxy_set_header Upgrade websocket;`" in message and "RFC 9110" in message
    assert "proxy_set_header Upgrade $http_upgrade;" in message.split("Hint:")[1]
