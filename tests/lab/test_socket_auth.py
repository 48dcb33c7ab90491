"""lab.socket_auth: a WebSocket authenticated by its first message or a one-time ticket, and a
session that expires on a long connection."""

from __future__ import annotations

import asyncio
import json

import pytest

from lab.socket_auth import (
    EXPIRED,
    first_message_refusal,
    follow,
    socket_auth_app,
    ticket_handshakes,
)
from lab.tokens import Tokens
from servers import serve


@pytest.fixture
def app_and_tokens():
    tokens = Tokens(ttl=0.4, ticket_ttl=30)
    with serve(socket_auth_app(tokens, auth_timeout=0.5), name="test-socket-auth") as server:
        yield server, tokens


def test_an_expiring_session_is_closed_1008_and_resumed_without_a_gap(app_and_tokens):
    server, tokens = app_and_tokens
    url = f"ws://127.0.0.1:{server.port}/ws/first-message"
    session = asyncio.run(follow(url, lambda: tokens.issue("learner"), 20))
    assert session.ticks == list(range(1, 21))
    assert len(session.connections) >= 2
    assert all((c.close_code, c.close_reason) == (1008, EXPIRED)
               for c in session.connections[:-1])


@pytest.mark.parametrize(
    ("first", "reason"),
    [(None, "no token in time"), ("hello", 'send {"token": ...}'),
     ('{"token": "learner.1.abc"}', "bad signature")],
)
def test_a_missing_or_bad_first_message_is_closed_1008_saying_why(app_and_tokens, first, reason):
    server, _ = app_and_tokens
    url = f"ws://127.0.0.1:{server.port}/ws/first-message"
    assert asyncio.run(first_message_refusal(url, first)) == (1008, reason)


def test_an_expired_token_in_the_first_message_is_refused(app_and_tokens):
    server, tokens = app_and_tokens
    url = f"ws://127.0.0.1:{server.port}/ws/first-message"
    first = json.dumps({"token": tokens.issue("learner", ttl=-1)})
    assert asyncio.run(first_message_refusal(url, first)) == (1008, "token expired")


def test_a_ticket_opens_one_socket_and_its_replay_gets_403(app_and_tokens):
    server, tokens = app_and_tokens
    token = tokens.issue("learner", ttl=30)
    answers = asyncio.run(ticket_handshakes(server.url, f"ws://127.0.0.1:{server.port}", token))
    assert [status for _, status in answers] == [200, 101, 403]
