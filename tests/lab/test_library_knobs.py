"""lab.library_knobs: how much each library's send accepts before it waits, and max_queue."""

from __future__ import annotations

import pytest

from lab.library_knobs import read_backlog, send_backlog


def test_websockets_holds_about_write_limit_before_send_waits_and_more_with_a_larger_one():
    default = send_backlog("websockets")
    larger = send_backlog("websockets", limit=128 * 1024)
    assert default.process <= 32 * 1024 + 1024 < larger.process <= 128 * 1024 + 1024
    assert default.knob == "write_limit default" and larger.knob == "write_limit=131072"


def test_a_smaller_aiohttp_writer_limit_makes_a_websocket_send_wait_sooner():
    default = send_backlog("aiohttp WebSocket")
    smaller = send_backlog("aiohttp WebSocket", limit=4096)
    assert smaller.process < default.process
    assert smaller.accepted < default.accepted


def test_an_aiohttp_sse_write_waits_once_its_64_kib_limit_is_exceeded():
    sse = send_backlog("aiohttp SSE")
    assert 64 * 1024 <= sse.process <= 2 * 64 * 1024 + 1024
    assert sse.accepted >= sse.process + sse.server_kernel  # and what left the process


def test_a_smaller_max_queue_holds_fewer_unread_messages_in_the_server():
    many, one = read_backlog(16), read_backlog(1)
    assert one.server_process < many.server_process
    assert many.server_process >= 8 * 10_240  # about max_queue messages, not a few


def test_an_unknown_library_is_refused_by_name():
    with pytest.raises(ValueError, match="websockets"):
        send_backlog("tornado")
