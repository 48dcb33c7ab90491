"""Exercise 09's check: a right location block passes; each typical mistake is named."""

from __future__ import annotations

import pytest
from checks_support import assert_passes, failure_of
from support import needs

from lab.checks import check_09_location
from lab.checks.l09_reading import gzip_rule
from lab.front import PROXY

UPGRADE = "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;"


def fails_with(block: str) -> str:
    return failure_of(check_09_location, lambda: block)


def test_the_course_s_location_block_passes(capsys):
    needs("nginx")
    assert_passes(check_09_location, lambda: PROXY, exercise="09", capsys=capsys)


def test_an_untouched_exercise_is_not_written_yet():
    def location_block():
        raise NotImplementedError()

    assert "Hint:" in failure_of(check_09_location, location_block, match="not written yet")


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


# One change to the course's block each: (what is replaced, by what, what the message says,
# what its hint says, or None).
CHANGED_BLOCKS = [
    pytest.param(
        "proxy_http_version 1.1;",
        "",
        ["RFC 6455", "HTTP/1.1 request", "nginx's default", "aiohttp"],
        "proxy_http_version 1.1;",
        id="speaks HTTP/1.0 although aiohttp accepted the upgrade",
    ),
    pytest.param(
        "proxy_buffering off;",
        "proxy_buffering on;",
        ["leaves proxy_buffering on", "slow client"],
        "proxy_buffering off;",
        id="buffers although the events arrived in time",
    ),
    pytest.param(
        "proxy_buffering off;",
        "# proxy_buffering off;",
        ["leaves proxy_buffering on"],
        None,
        id="a directive in a comment does not count",
    ),
    pytest.param(
        "proxy_buffering off;",
        "gzip on; gzip_types text/event-stream;",
        [
            "gzips the stream",
            "With proxy_buffering on, gzip holds events back (measured in lesson 03",
            "(BREACH; lesson 07",
        ],
        "leave gzip off for this location",
        id="gzip on a buffered event stream is refused for holding it and for BREACH",
    ),
    pytest.param(
        "proxy_buffering off;",
        "proxy_buffering off; gzip on; gzip_types text/event-stream;",
        [
            "location /, which serves /events, gzips the stream",
            "with buffering off they arrived",
            "leaks those secrets through the compressed lengths (BREACH; lesson 07",
        ],
        "leave gzip off for this location",
        id="gzip on an unbuffered event stream is refused for BREACH",
    ),
    pytest.param(
        "http://backend",
        "http://127.0.0.1:9",
        ["got 502", "not 101"],
        "proxy_pass http://backend;",
        id="a proxy_pass to an address nobody listens on is told to use the upstream group",
    ),
    pytest.param(
        "http://backend",
        "http://backends",
        [
            'host not found in upstream "backends"',
            "line 2 of your block: proxy_pass http://backends;",
        ],
        "one upstream group, `backend`",
        id="a proxy_pass to an upstream that does not exist names the one that does",
    ),
    pytest.param(
        "location /",
        "location /ws/",
        [
            "GET /events through nginx got 404 from nginx itself",
            "no location of your block matches /events",
        ],
        None,
        id="a location that does not serve events gets a 404 named as such",
    ),
]


@pytest.mark.parametrize(("old", "new", "says", "hint"), CHANGED_BLOCKS)
def test_a_changed_course_block_fails_naming_what_nginx_did(old, new, says, hint):
    needs("nginx")
    message = fails_with(PROXY.replace(old, new))
    assert all(words in message for words in says), message
    assert hint is None or hint in message.split("Hint:")[1], message


def test_without_nginx_the_rules_are_still_read_and_ci_refuses_to_pass(monkeypatch, capsys):
    monkeypatch.setattr("servers.system.find_tool", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    assert "proxy_http_version 1.1" in fails_with(PROXY.replace("proxy_http_version 1.1;", ""))
    check_09_location(lambda: PROXY)
    assert "only read, not run" in capsys.readouterr().out
    monkeypatch.setenv("CI", "1")
    assert "needs the real thing" in fails_with(PROXY)


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
    failure_of(check_09_location, lambda: 42, match="not the text of an nginx location block")


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
    both = websockets_only + "\n" + PROXY
    assert_passes(check_09_location, lambda: both, exercise="09", capsys=capsys)


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


def test_gzip_for_other_types_than_the_event_stream_is_not_refused():
    for gzip in ["gzip on;", "gzip on; gzip_types application/json;"]:
        gzip_rule(PROXY.replace("proxy_buffering off;", f"proxy_buffering off; {gzip}"))
