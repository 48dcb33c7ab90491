"""Short-lived signed tokens and one-time tickets, the credentials of lesson 12's streams.

``Tokens(ttl)`` issues ``user.expiry.signature`` strings (the expiry in milliseconds; the
signature an HMAC-SHA256 over the user and the expiry, with a key drawn when the object is
made) and checks them: ``check(token)`` returns the user, or raises ``Refused`` saying why
(malformed, bad signature, expired). A ticket (``ticket(user)``) is a random string the server
remembers for ``ticket_ttl`` seconds and accepts once: what a page fetches over HTTP just
before it opens a WebSocket. The clock is ``time.time`` (an expiry is a wall-clock time, as a
JWT's ``exp`` is) unless a test passes another. Nothing here prints a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable


class Refused(Exception):
    """A credential was refused; the message says why (and never contains the credential)."""


class Tokens:
    def __init__(
        self, ttl: float = 60.0, ticket_ttl: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl = ttl
        self.ticket_ttl = ticket_ttl
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._tickets: dict[str, tuple[str, float]] = {}

    def issue(self, user: str, ttl: float | None = None) -> str:
        """A token for ``user`` valid ``ttl`` seconds (default ``self.ttl``)."""
        expiry = str(round(1000 * (self.clock() + (self.ttl if ttl is None else ttl))))  # ms
        return f"{user}.{expiry}.{self._sign(user, expiry)}"

    def check(self, token: str | None) -> str:
        """The token's user; ``Refused`` when it is missing, malformed, forged or expired."""
        return self.check_at(token)[0]

    def check_at(self, token: str | None) -> tuple[str, float]:
        """``(user, expiry)`` of a valid token; ``Refused`` otherwise."""
        if not token:
            raise Refused("no token")
        parts = token.rsplit(".", 2)
        try:
            user, expiry, signature = parts
            ends = int(expiry) / 1000
        except ValueError:
            raise Refused("malformed token") from None
        if not hmac.compare_digest(signature, self._sign(user, expiry)):
            raise Refused("bad signature")
        if ends <= self.clock():
            raise Refused("token expired")
        return user, ends

    def ticket(self, user: str) -> str:
        """A one-time ticket for ``user``, valid ``ticket_ttl`` seconds."""
        ticket = secrets.token_urlsafe(18)
        self._tickets[ticket] = (user, self.clock() + self.ticket_ttl)
        return ticket

    def redeem(self, ticket: str | None) -> str:
        """The ticket's user, once; ``Refused`` when unknown, already used or expired."""
        user, ends = self._tickets.pop(ticket or "", (None, 0.0))
        if user is None:
            raise Refused("unknown or already used ticket")
        if ends <= self.clock():
            raise Refused("ticket expired")
        return user

    def _sign(self, user: str, expiry: str) -> str:
        mac = hmac.new(self._key, f"{user}.{expiry}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ``<N characters>``: for printing logs."""
    return text.replace(secret, f"<{len(secret)} characters>")
