"""servers.balancer: the fallback balancer relays whole connections, round-robin or sticky."""

from __future__ import annotations

import httpx
import pytest
from websockets.sync.client import connect

from lab import balancing
from servers.balancer import Balancer, choose
from servers.cluster import start_backends


def test_choose_takes_turns_and_a_sticky_choice_depends_only_on_the_address():
    ups = ["a", "b", "c"]
    assert [choose(ups, turn, "127.0.0.1", False)[0] for turn in range(4)] == ["a", "b", "c", "a"]
    sticky = {choose(ups, turn, "10.0.0.7", True)[0] for turn in range(10)}
    assert len(sticky) == 1
    assert sorted(choose(ups, 5, "10.0.0.7", True)) == ups  # the others, to fall back on


def test_new_connections_go_round_robin_but_one_connection_stays_on_one_backend():
    backends = start_backends(2, prefix="test-lb")
    try:
        with Balancer([b.address for b in backends], name="test-lb") as balancer:
            per_connection = balancing.backend_per_new_socket(balancer.url, 4)
            assert per_connection in (["test-lb1", "test-lb2"] * 2, ["test-lb2", "test-lb1"] * 2)
            assert len(set(balancing.backend_per_request(balancer.url, 6))) == 1  # layer 4
            assert set(balancing.answers_over_one_socket(balancer.url, 100)) in (
                {"test-lb1"},
                {"test-lb2"},
            )
    finally:
        for backend in backends:
            backend.stop()


def test_a_refused_upstream_is_skipped_and_sticky_puts_one_address_on_one_backend():
    backends = start_backends(2, prefix="test-sticky")
    dead = "127.0.0.1:9"  # nothing listens on the discard port
    try:
        with Balancer([dead, *(b.address for b in backends)], sticky=True) as balancer:
            names = {httpx.get(balancer.url + "/backend").json()["backend"] for _ in range(6)}
            assert len(names) == 1 and names < {"test-sticky1", "test-sticky2"}
    finally:
        for backend in backends:
            backend.stop()


def test_the_idle_timeout_cuts_a_quiet_connection():
    from websockets.exceptions import ConnectionClosed, InvalidMessage

    backends = start_backends(1, prefix="test-idle")
    try:
        with Balancer([backends[0].address], idle_timeout=0.3) as balancer:
            for _ in range(10):  # on a loaded machine a handshake may itself be 0.3 s quiet,
                try:  # and be cut before its answer: try again, until one is established
                    ws = connect(balancing.ws_url(balancer.url, "/ws/whoami"))
                    break
                except InvalidMessage:
                    continue
            with ws, pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
    finally:
        backends[0].stop()


def test_a_quiet_stream_that_nothing_cuts_is_reported_alive_not_cut():
    backends = start_backends(1, prefix="test-quiet")  # SSE heartbeat every 15 s: none here
    try:
        with Balancer([backends[0].address]) as balancer:
            assert balancing.quiet_sse_lifetime(balancer.url, 0.5) is None
        with Balancer([backends[0].address], idle_timeout=0.3) as balancer:
            assert balancing.quiet_sse_lifetime(balancer.url, 5) is not None  # cut, not alive
    finally:
        backends[0].stop()
