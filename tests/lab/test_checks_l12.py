"""Exercise 12's checks: the right handshake and stream checks pass, each likely mistake is
named (a substring, startswith or endswith match, the host alone, null allowed, no ticket
check, a ticket's presence, no expiry, a reusable ticket, a cookie's presence, refusing the
right client, a crash, an answer in the wrong shape)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from checks_support import assert_named, assert_passes

from lab import checks

PAGE = "https://app.example"
ALLOWED = frozenset({PAGE})


def handshake(
    *,
    origin="exact",
    null=False,
    ticket="checked",
    expiry=True,
    once=True,
    inverted=False,
    pop_first=False,
    scriptless=False,
    echo=False,
):
    """A ``handshake_allowed`` with the chosen mistakes, and its ``tickets``.

    ``origin``: how the Origin is compared ("exact", "substring", "startswith", "endswith",
    "host": the host name alone, "none": not at all). ``null``: "null" is let in like a missing
    Origin. ``ticket``: "checked" (looked up), "present" (any ticket will do), "none" (not
    asked for). ``inverted``: the expiry compared the wrong way round. ``scriptless``: a
    missing Origin lets the client in without a ticket. ``echo``: refusals repeat the ticket.
    """
    tickets: dict[str, float] = {}
    host = "app.example"

    def origin_ok(value):
        if value is None or (null and value == "null"):
            return True
        return {
            "exact": lambda: value in ALLOWED,
            "substring": lambda: any(a in value for a in ALLOWED),
            "reversed": lambda: any(value in a for a in ALLOWED),
            "startswith": lambda: value.startswith(PAGE),
            "endswith": lambda: value.endswith(host),
            "host": lambda: urlsplit(value).hostname == host,
            "none": lambda: True,
        }[origin]()

    def handshake_allowed(headers, query, now):
        if not origin_ok(headers.get("Origin")):
            return False, "origin refused"
        if ticket == "none" or (scriptless and headers.get("Origin") is None):
            return True, "ok"
        value = query.get("ticket")
        if value is None:
            return False, "no ticket"
        if ticket == "present":
            return True, "ok"
        expires = tickets.get(value) if not once else tickets.pop(value, None)
        if expires is None:
            return False, f"unknown ticket {value}" if echo else "unknown ticket"
        if expiry and (now < expires if inverted else now >= expires):
            return False, "expired"
        return True, "ok"

    return handshake_allowed, tickets


def stream(*, value=True, expiry=True, name="session", once=False):
    """A ``stream_allowed`` with the chosen mistakes, and its ``sessions``; ``once``: each
    session is spent on its first use, as a ticket is."""
    sessions: dict[str, float] = {}

    def stream_allowed(cookies, now):
        session = cookies.get(name)
        if session is None:
            return False, "log in first"
        if not value:
            return True, "ok"
        expires = sessions.pop(session, None) if once else sessions.get(session)
        if expires is None:
            return False, "unknown session"
        if expiry and now >= expires:
            return False, "expired"
        return True, "ok"

    return stream_allowed, sessions


def test_the_right_handshake_check_passes(capsys):
    allowed, tickets = handshake()
    out = assert_passes(
        checks.check_12_handshake, allowed, tickets, ALLOWED, exercise="12.1", capsys=capsys
    )
    assert "replayed" in out and "suffix" in out


def test_no_ticket_is_shown_in_what_the_check_prints(capsys):
    allowed, tickets = handshake()
    checks.check_12_handshake(allowed, tickets, ALLOWED)
    out = capsys.readouterr().out
    assert not [t for t in tickets if t in out]  # the expired one the check left behind
    assert "ticket=" not in out


@pytest.mark.parametrize(
    ("mistake", "says", "hint_says"),
    [
        (
            {"origin": "none"},
            "a handshake from https://evil.example (a page on another site) was let in",
            "ALLOWED_ORIGINS",
        ),
        ({"origin": "substring"}, "a suffix trick", "`in` on a string"),
        ({"origin": "startswith"}, "a suffix trick", "startswith()"),
        ({"origin": "endswith"}, "a prefix trick", "endswith()"),
        ({"origin": "host"}, "the same host on another port", "scheme, host and port"),
        ({"origin": "reversed"}, "https://app.exampl (your origin cut short", "any piece"),
        (
            {"scriptless": True},
            "a handshake with no Origin and no ticket (a script, not a browser) was let in",
            "it still needs a ticket",
        ),
        ({"echo": True}, "repeats the ticket in its reason", "without the ticket"),
        ({"null": True}, "a handshake from null (the opaque origin", "never allow 'null'"),
        ({"ticket": "none"}, "a handshake with no ticket was let in", "query.get('ticket')"),
        ({"ticket": "present"}, "a made-up ticket was let in", "look it up in tickets"),
        ({"expiry": False}, "an expired ticket", "now >= tickets[ticket]"),
        (
            {"once": False},
            "a ticket replayed from the server's access log",
            "tickets.pop(ticket, None)",
        ),
        (
            {"inverted": True},
            "the right client (a page on https://app.example with a fresh ticket from POST "
            "/ticket) was refused with 403: expired",
            "now < tickets[ticket]",
        ),
    ],
)
def test_each_handshake_mistake_is_named(mistake, says, hint_says):
    allowed, tickets = handshake(**mistake)
    message = assert_named(
        checks.check_12_handshake, allowed, tickets, ALLOWED, exercise="12.1", says=says, hint=True
    )
    assert hint_says in message.split("Hint:")[1], message


def test_a_handshake_check_that_spends_the_ticket_before_the_origin_passes_still():
    """Looking at the ticket first is weaker (a refused page burns a ticket) but no hole."""
    tickets: dict[str, float] = {}

    def ticket_first(headers, query, now):
        expires = tickets.pop(query.get("ticket"), None)
        if expires is None or now >= expires:
            return False, "bad ticket"
        origin = headers.get("Origin")
        return (origin is None or origin in ALLOWED), "origin"

    checks.check_12_handshake(ticket_first, tickets, ALLOWED)


def test_a_handshake_check_that_crashes_is_named_with_its_line():
    tickets: dict[str, float] = {}

    def handshake_allowed(headers, query, now):
        return query["ticket"] in tickets, "?"

    message = assert_named(
        checks.check_12_handshake,
        handshake_allowed,
        tickets,
        ALLOWED,
        exercise="12.1",
        says="raised KeyError",
    )
    assert 'query["ticket"]' in message


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (True, "returned True, not a pair"),
        ((False, ""), "a refusal must say why"),
        ("ok", "not a pair"),
    ],
)
def test_a_handshake_answer_in_the_wrong_shape_is_named(answer, says):
    assert_named(
        checks.check_12_handshake,
        lambda h, q, n: answer,
        {},
        ALLOWED,
        exercise="12.1",
        says=says,
        hint=True,
    )


def test_an_allow_list_no_browser_could_match_is_named():
    allowed, tickets = handshake()
    assert_named(
        checks.check_12_handshake,
        allowed,
        tickets,
        {"https://app.example/"},
        exercise="12.1",
        says="ALLOWED_ORIGINS must hold",
    )
    assert_named(
        checks.check_12_handshake,
        allowed,
        tickets,
        {"null"},
        exercise="12.1",
        says="ALLOWED_ORIGINS must hold",
    )


def test_an_unwritten_check_says_it_is_not_written_yet():
    def handshake_allowed(headers, query, now):
        raise NotImplementedError()

    def stream_allowed(cookies, now):
        raise NotImplementedError()

    assert_named(
        checks.check_12_handshake,
        handshake_allowed,
        {},
        ALLOWED,
        exercise="12.1",
        says="not written yet",
        hint=True,
    )
    assert_named(
        checks.check_12_stream,
        stream_allowed,
        {},
        exercise="12.2",
        says="not written yet",
        hint=True,
    )


def test_the_right_stream_check_passes(capsys):
    allowed, sessions = stream()
    assert_passes(checks.check_12_stream, allowed, sessions, exercise="12.2", capsys=capsys)


@pytest.mark.parametrize(
    ("mistake", "says"),
    [
        ({"value": False}, "a made-up session cookie read the private stream"),
        ({"expiry": False}, "an expired session read the private stream"),
        (
            {"once": True},
            "the same client reconnecting with the same cookie, as EventSource does when a "
            "response ends, was refused with 401: unknown session",
        ),
        (
            {"name": "sessionid"},
            "the logged-in client (its session cookie from POST /login) was refused with 401: "
            "log in first",
        ),
    ],
)
def test_each_stream_mistake_is_named(mistake, says):
    allowed, sessions = stream(**mistake)
    assert_named(checks.check_12_stream, allowed, sessions, exercise="12.2", says=says, hint=True)


def test_a_stream_check_that_lets_anyone_in_is_named_at_the_missing_cookie():
    assert_named(
        checks.check_12_stream,
        lambda cookies, now: (True, "ok"),
        {},
        exercise="12.2",
        says="a client with no session cookie",
        hint=True,
    )
