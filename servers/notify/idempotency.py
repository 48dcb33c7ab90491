"""The ``Idempotency-Key`` request header: a publisher's retry is not a second post (lesson 14).

A publisher whose ``POST`` got no answer (a backend killed mid-request, a connection cut)
cannot tell whether the post was taken. It sends the post again with the same key, and the
service answers the post it took under that key instead of taking it twice
(draft-ietf-httpapi-idempotency-key-header, a work in progress; Stripe's API works the same
way). The key is a Structured Field string (RFC 8941 section 3.3.3), one field per request;
the service scopes it to the user who sends it, so one user cannot replay another's.
"""

from __future__ import annotations

import re

from aiohttp import web

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
"""The response header on an answer replayed from a key (Stripe's name: the draft has none)."""
LONGEST = 255
"""The longest key taken, in characters (as Stripe and most APIs that take the header)."""

_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
"""RFC 8941 section 3.3.3: DQUOTE, printable ASCII with ``"`` and ``\\`` escaped, DQUOTE."""


class BadKey(ValueError):
    """An ``Idempotency-Key`` the service cannot take; the message says what to send."""


def key_of(request: web.Request) -> str | None:
    """The request's idempotency key, unquoted; ``None`` without the header; ``BadKey`` for
    two headers, a value that is not a quoted string, an empty key or one too long."""
    fields = request.headers.getall(HEADER, [])
    if not fields:
        return None
    if len(fields) > 1:
        raise BadKey(f"send one {HEADER} header, not {len(fields)}")
    match = _SF_STRING.fullmatch(fields[0].strip(" "))
    if match is None:
        raise BadKey(
            f'{HEADER} must be a quoted string of printable ASCII, as in {HEADER}: '
            f'"8e03978e-40d5-43e8-bc93-6894a57f9324" (RFC 8941 section 3.3.3), not '
            f"{fields[0][:80]!r}"
        )
    key = re.sub(r"\\(.)", r"\1", match[1])
    if not key:
        raise BadKey(f"{HEADER} is empty: send a new random key (a UUID) with each post")
    if len(key) > LONGEST:
        raise BadKey(f"{HEADER} is {len(key)} characters long; at most {LONGEST} are taken")
    return key
