"""lab.tokens: signed short-lived tokens and one-time tickets, each refusal saying why."""

from __future__ import annotations

import pytest

from lab.tokens import Refused, Tokens, redact


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_names_its_user_until_it_expires():
    clock = Clock()
    tokens = Tokens(ttl=5, clock=clock)
    token = tokens.issue("alice")
    assert tokens.check(token) == "alice"
    clock.now += 5
    with pytest.raises(Refused, match="token expired"):
        tokens.check(token)


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (lambda t: t.replace("alice", "mallory", 1), "bad signature"),
        (lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"), "bad signature"),
        (lambda t: t.rsplit(".", 1)[0].rsplit(".", 1)[0] + ".99999999999999." + t.rsplit(".", 1)[1],
         "bad signature"),
        (lambda t: "no dots here", "malformed token"),
        (lambda t: "", "no token"),
    ],
)
def test_a_changed_token_is_refused_with_the_reason(tamper, why):
    tokens = Tokens(ttl=60)
    with pytest.raises(Refused, match=why):
        tokens.check(tamper(tokens.issue("alice")))


def test_another_servers_token_is_refused():
    with pytest.raises(Refused, match="bad signature"):
        Tokens().check(Tokens().issue("alice"))


def test_a_ticket_is_taken_once_and_only_before_it_expires():
    clock = Clock()
    tokens = Tokens(ticket_ttl=10, clock=clock)
    ticket = tokens.ticket("alice")
    assert tokens.redeem(ticket) == "alice"
    with pytest.raises(Refused, match="already used"):
        tokens.redeem(ticket)
    late = tokens.ticket("alice")
    clock.now += 10
    with pytest.raises(Refused, match="ticket expired"):
        tokens.redeem(late)


def test_redact_keeps_only_the_length_of_a_secret():
    assert redact("GET /events?token=abc123 HTTP/1.1", "abc123") == (
        "GET /events?token=<6 characters> HTTP/1.1")
