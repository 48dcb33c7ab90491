"""Checks for exercise 12: who may open the feed's socket and read its stream (lesson 12).

``check_12_handshake`` serves the learner's ``handshake_allowed(headers, query, now)`` behind
``/ws`` (``lab.checks.auth_app``) and tries, live with the ``websockets`` client: the right page
with a fresh one-time ticket, then no ticket, a made-up, an expired and a replayed one (read
from the server's access log), a script with neither ``Origin`` nor ticket, then the tricks of
``lab.checks.origin_tricks`` (a foreign origin, ``null``, suffix and prefix tricks, the origin
cut short, another port and scheme), each with a valid ticket. ``check_12_stream`` does the
same for ``stream_allowed(cookies, now)`` behind ``/events`` with ``httpx``: the logged-in
client, twice (``EventSource`` reconnects with the same cookie), no cookie, a made-up and an
expired session. Every mistake is named with a hint; no ticket or session value is ever shown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from multidict import CIMultiDict, MultiDict
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from lab.checks.auth_app import PRIVATE, AuthApp, BadAnswer, answer_of
from lab.checks.core import call, expect, fail, learner_line, passed, quiet_server_log
from lab.checks.origin_tricks import tricks
from servers import serve
from servers.origins import parse_origin
from servers.timing import scaled

WS, STREAM = "12.1", "12.2"


class _Run:
    """One live server running the learner's check, and the clients that try it."""

    def __init__(self, exercise: str, name: str, auth: AuthApp, running) -> None:
        self.exercise, self.name, self.auth, self.url = exercise, name, auth, running.url

    def crashed(self) -> None:
        """``CheckFailed`` naming what the learner's function raised or returned wrongly."""
        if not self.auth.crashes:
            return
        error = self.auth.crashes[0]
        if isinstance(error, BadAnswer):
            raise fail(
                self.exercise,
                f"{self.name} {error}.",
                "return (True, 'ok') to let the client in, (False, 'why') to refuse it.",
            )
        where = learner_line(error, self.name)
        raise fail(
            self.exercise,
            f"{self.name} raised {type(error).__name__}: {error}"
            f"{' (' + where + ')' if where else ''}.",
            "read the error above; the cell that defines the function is the place to fix it.",
        )

    def ticket(self) -> str:
        return httpx.post(f"{self.url}/ticket", timeout=scaled(5)).json()["ticket"]

    def handshake(self, origin: str | None, ticket: str | None) -> tuple[int, str]:
        """``(101, first message)`` when let in, else ``(status, the body's error)``."""
        url = self.url.replace("http://", "ws://") + "/ws"
        url += f"?ticket={ticket}" if ticket is not None else ""
        try:
            with connect(url, origin=origin, open_timeout=scaled(5)) as ws:
                answer = 101, str(ws.recv(timeout=scaled(5)))
        except InvalidStatus as refused:
            answer = refused.response.status_code, _error_of(refused.response.body)
        self.crashed()
        return answer

    def stream(self, session: str | None) -> tuple[int, str]:
        """``(200, body)`` when let in, else ``(status, the body's error)``."""
        headers = {"Cookie": f"session={session}"} if session is not None else {}
        response = httpx.get(f"{self.url}/events", headers=headers, timeout=scaled(5))
        self.crashed()
        if response.status_code == 200:
            return 200, response.text
        return response.status_code, _error_of(response.content)

    def login(self) -> str:
        response = httpx.post(f"{self.url}/login", timeout=scaled(5))
        return response.cookies["session"]


def _error_of(body: bytes | None) -> str:
    try:
        return str(json.loads(bytes(body or b""))["error"])
    except (ValueError, KeyError, TypeError):
        return bytes(body or b"").decode(errors="replace")


def _first_answer(exercise: str, name: str, function: Callable[..., Any], *arguments: Any) -> None:
    """Call the learner's function once off the server: not written yet, a crash or an answer
    in the wrong shape is named here, before any client tries it."""
    answer = call(exercise, function, *arguments)
    try:
        answer_of(answer)
    except BadAnswer as error:
        raise fail(
            exercise,
            f"{name} {error}.",
            "return (True, 'ok') to let the client in, (False, 'why') to refuse it.",
        ) from None


def check_12_handshake(
    handshake_allowed: Callable[..., Any],
    tickets: MutableMapping[str, float],
    allowed_origins: Iterable[str],
) -> None:
    """Exercise 12.1: the Origin and one-time ticket check of ``/ws``'s handshake."""
    name = "handshake_allowed"
    origins = sorted(allowed_origins)
    expect(
        bool(origins) and "null" not in origins and all(map(parse_origin, origins)),
        WS,
        f"ALLOWED_ORIGINS must hold the feed's page(s) as scheme://host[:port], got {origins}.",
        "keep the cell's ALLOWED_ORIGINS = frozenset({'https://app.example'}).",
    )
    page = origins[0]
    _first_answer(
        WS, name, handshake_allowed, CIMultiDict({"Origin": page}), MultiDict(), time.time()
    )
    auth = AuthApp(handshake_allowed=handshake_allowed, tickets=tickets)
    with quiet_server_log(), serve(auth.app(), name="check-12-handshake") as running:
        run = _Run(WS, name, auth, running)
        status, said = run.handshake(page, run.ticket())
        expect(
            status == 101 and said == PRIVATE,
            WS,
            f"the right client (a page on {page} with a fresh ticket from POST /ticket) was "
            f"refused with {status}: {said}",
            "let it in: its Origin is in ALLOWED_ORIGINS and its ticket is in tickets, with "
            "an expiry still ahead (a ticket is good while now < tickets[ticket]).",
        )
        expired = "expired-ticket-for-the-check"
        tickets[expired] = time.time() - 1.0
        status, _ = run.handshake(page, run.ticket())
        expect(
            status == 101,
            WS,
            f"a second right client with its own fresh ticket got {status}.",
            "each fresh ticket is good once: refuse only tickets that are not in tickets.",
        )
        logged = parse_qs(urlsplit(auth.log[-1].split()[1]).query)["ticket"][0]
        for ticket, what, hint in [
            (
                None,
                "a handshake with no ticket",
                "the Origin says which page opened the socket, "
                "not who is behind it: refuse when query.get('ticket') is not in tickets.",
            ),
            (
                "made-up-by-the-check",
                "a made-up ticket",
                "a ticket's presence proves nothing: "
                "look it up in tickets, where POST /ticket keeps the ones it issued.",
            ),
            (
                expired,
                "an expired ticket (its expiry time has passed)",
                "refuse when now >= tickets[ticket].",
            ),
            (
                logged,
                "a ticket replayed from the server's access log (used once already)",
                "a ticket in a URL lands in every log on its way: let each one in once, removing "
                "it when it is used (tickets.pop(ticket, None)).",
            ),
        ]:
            status, said = run.handshake(page, ticket)
            expect(status != 101, WS, f"{what} was let in (101).", hint)
            expect(
                not ticket or ticket not in said,
                WS,
                f"the refusal of {what} repeats the ticket in its reason.",
                "say what is wrong without the ticket: the reason goes back in the 403's body.",
            )
        status, _ = run.handshake(None, None)
        expect(
            status != 101,
            WS,
            "a handshake with no Origin and no ticket (a script, not a browser) was let in.",
            "a missing Origin says the client is no browser, not that it may come in: "
            "it still needs a ticket.",
        )
        for origin, what, hint in tricks(page):
            status, _ = run.handshake(origin, run.ticket())
            expect(
                status != 101,
                WS,
                f"a handshake from {origin} ({what}) was let in with a valid ticket.",
                hint,
            )
    passed(
        WS,
        f"a page on {page} with a fresh ticket was let in; no, made-up, expired and "
        "replayed tickets, a script with no Origin and no ticket, a foreign origin, null, "
        "suffix and prefix tricks, your origin cut short, another port and scheme were "
        "refused, each saying why",
    )


def check_12_stream(
    stream_allowed: Callable[..., Any], sessions: MutableMapping[str, float]
) -> None:
    """Exercise 12.2: the session cookie check of the ``/events`` stream."""
    name = "stream_allowed"
    _first_answer(STREAM, name, stream_allowed, {}, time.time())
    auth = AuthApp(stream_allowed=stream_allowed, sessions=sessions)
    with quiet_server_log(), serve(auth.app(), name="check-12-stream") as running:
        run = _Run(STREAM, name, auth, running)
        session = run.login()
        status, said = run.stream(session)
        expect(
            status == 200 and PRIVATE in said,
            STREAM,
            f"the logged-in client (its session cookie from POST /login) was refused with "
            f"{status}: {said}",
            "let it in: cookies.get('session') is in sessions, with an expiry still ahead "
            "(a session is good while now < sessions[session]).",
        )
        status, said = run.stream(session)
        expect(
            status == 200,
            STREAM,
            f"the same client reconnecting with the same cookie, as EventSource does when a "
            f"response ends, was refused with {status}: {said}",
            "a session is no one-time ticket: read it with sessions.get(), do not pop it.",
        )
        expired = "expired-session-for-the-check"
        sessions[expired] = time.time() - 1.0
        for session, what, hint in [
            (
                None,
                "a client with no session cookie",
                "refuse when cookies.get('session') is None.",
            ),
            (
                "made-up-by-the-check",
                "a made-up session cookie",
                "a cookie named session proves "
                "nothing, any client can send one: look its value up in sessions.",
            ),
            (
                expired,
                "an expired session",
                "refuse when now >= sessions[session], saying so, "
                "so the page knows to log in again.",
            ),
        ]:
            status, _ = run.stream(session)
            expect(status != 200, STREAM, f"{what} read the private stream.", hint)
    passed(
        STREAM,
        "the logged-in client read the stream, and again on reconnecting; no cookie, a "
        "made-up and an expired session were refused, each saying why",
    )
