"""Who is asking: the service's short-lived tokens, its session cookie and its users (lesson 14).

Lesson 12 signed stream tokens in ``lab/tokens.py``; ``servers/`` may not import ``lab/``, so
the notification service signs its own here, in a different shape: a token is
``base64url(JSON {"sub": user, "exp": seconds}) "." base64url(HMAC-SHA256)``, as a JWT's
payload and signature are (without the header: one algorithm, never chosen by the token).

``POST /login`` answers with the token (for clients that set ``Authorization: Bearer``) and
sets it as an ``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page
sends it, lesson 12's cross-site WebSocket hijacking) session cookie, which an ``EventSource``
or a browser's WebSocket carries by itself. Both expire after ``ttl`` seconds: a stolen token
is worth little for long. Every backend that must accept another's tokens shares the secret
(``NOTIFY_SECRET``); without one, each draws its own.

Users: with ``passwords`` (``{"alice": "..."}``) only those users log in, with their password;
without, it is a demo login (whoever names a user is that user), which a real service would
replace with its identity provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping

from aiohttp import web

COOKIE = "notify_session"
"""The session cookie's name."""
TTL = 300.0
"""Seconds a token (and its cookie) is valid: five minutes, then the client logs in again."""
USER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""A user name (also the name of the user's private channel): lower case, at most 32 characters."""
RESERVED = frozenset({"broadcast"})
"""Names that are channels, not users."""


class Refused(Exception):
    """A request refused for who sent it: ``status`` (401: not known, 403: not allowed) and a
    reason a client can show (never the credential itself)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def check_user_name(user: object) -> str:
    """``user`` if it may name a user, else ``ValueError`` saying why."""
    if not isinstance(user, str) or USER_NAME.fullmatch(user) is None:
        raise ValueError(
            f'"user" must be 1 to 32 characters of a-z, 0-9, "_" or "-" (starting with a '
            f"letter or digit), got {user!r:.40}"
        )
    if user in RESERVED:
        raise ValueError(f'"{user}" names a channel, not a user')
    return user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Issues and verifies tokens valid ``ttl`` seconds, signed with ``secret`` (default: a
    random key of this process). ``clock`` is wall-clock time, as a JWT's ``exp`` is."""

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        ttl: float = TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"a token's ttl must be a positive number of seconds: {ttl!r}")
        self.ttl, self.clock = ttl, clock
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, user: str) -> tuple[str, float]:
        """A token for ``user`` and when it expires (seconds since the epoch)."""
        expires = round(self.clock() + self.ttl, 3)
        payload = _b64(json.dumps({"sub": user, "exp": expires}).encode())
        return f"{payload}.{self._mac(payload)}", expires

    def verify(self, token: str) -> str:
        """The token's user; ``Refused(401)`` saying whether it is malformed, forged or expired."""
        payload, _, signature = token.partition(".")
        if not payload or not signature:
            raise Refused(401, "malformed token: expected PAYLOAD.SIGNATURE")
        if not hmac.compare_digest(signature, self._mac(payload)):
            raise Refused(401, "bad token signature: not issued by this service (or altered)")
        claims = json.loads(_unb64(payload))  # signed by us: well formed
        if claims["exp"] <= self.clock():
            raise Refused(401, "token expired: log in again with POST /login")
        return claims["sub"]


def credential(request: web.Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer TOKEN``, else the session cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, 'Authorization must be "Bearer TOKEN" (the token from POST /login)')
        return token.strip()
    return request.cookies.get(COOKIE)


def identify(request: web.Request, signer: Signer) -> str:
    """The user a request comes from; ``Refused(401)`` when it carries no valid token."""
    token = credential(request)
    if token is None:
        raise Refused(
            401, f"no credentials: log in with POST /login, then send the {COOKIE} cookie or "
            "Authorization: Bearer TOKEN"
        )  # fmt: skip
    return signer.verify(token)


class Users:
    """Who may log in: the users of ``passwords``, or (None) anyone who names a user."""

    def __init__(self, passwords: Mapping[str, str] | None = None) -> None:
        self.passwords = None if passwords is None else dict(passwords)
        for user in self.passwords or ():
            check_user_name(user)

    def check(self, user: str, password: object) -> None:
        """``Refused(401)`` unless ``user`` may log in with ``password``."""
        if self.passwords is None:
            return
        known = self.passwords.get(user)
        given = password if isinstance(password, str) else ""
        if known is None or not hmac.compare_digest(known.encode(), given.encode()):
            raise Refused(401, "unknown user or wrong password")  # which one is not said


def session_cookie(response: web.StreamResponse, token: str, ttl: float) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, the token's lifetime."""
    response.set_cookie(
        COOKIE, token, max_age=max(1, int(ttl)), httponly=True, samesite="Strict", path="/"
    )
