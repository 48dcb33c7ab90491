"""The ``Idempotency-Key`` request header: a publisher's retry is not a second post (lesson 14).

A publisher whose ``POST`` got no answer (a backend killed mid-request, a connection cut)
cannot tell whether the post was taken. It sends the post again with the same key, and the
service answers the post it took under that key instead of taking it twice
(draft-ietf-httpapi-idempotency-key-header, a work in progress). The key is a Structured
Field Item whose value is a String (RFC 8941 sections 3.3.3 and 4.2; parameters are allowed
and ignored), one field per request; the service scopes it to the user who sends it and the
channel, so one user cannot replay another's.

Where this departs from the draft, on purpose: a retry that arrives while the first request
is still being processed gets no ``409 Conflict``. The broker looks the key up and publishes
in one step (``servers.backplane.OnceBroker``), so the retry simply waits for the first and is
answered with its post. Only posts are remembered, not errors: a retry of a refused post
(503) is tried again, which is what a refusal asks for. Stripe's API uses the same header
name with unquoted keys, replays errors too, and answers a concurrent retry with 409.
"""

from __future__ import annotations

import re

from aiohttp import web

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
"""The response header on an answer replayed from a key (Stripe's name: the draft has none)."""
LONGEST = 255
"""The longest key taken, in characters (as Stripe and most APIs that take the header)."""

_SF_STRING = r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"'
"""RFC 8941 section 3.3.3: DQUOTE, printable ASCII with ``"`` and ``\\`` escaped, DQUOTE."""
_BARE_ITEM = (
    r'(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'
    r"|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|:[A-Za-z0-9+/=]*:|\?[01])"
)
"""Section 3.3: an integer or decimal, a string, a token, a byte sequence or a boolean."""
_PARAMETERS = rf"(?:;\x20*[a-z*][a-z0-9_\-.*]*(?:={_BARE_ITEM})?)*"
"""Section 3.1.2: ``;key`` or ``;key=value``, any number of them."""
_ITEM = re.compile(_SF_STRING + _PARAMETERS)


class BadKey(ValueError):
    """An ``Idempotency-Key`` the service cannot take; the message says what to send."""


def key_of(request: web.Request) -> str | None:
    """The request's idempotency key, unquoted (its parameters dropped); ``None`` without the
    header; ``BadKey`` for two headers, a value that is not a quoted string, an empty key or
    one too long."""
    fields = request.headers.getall(HEADER, [])
    if not fields:
        return None
    if len(fields) > 1:
        raise BadKey(f"send one {HEADER} header, not {len(fields)}")
    match = _ITEM.fullmatch(fields[0].strip(" "))
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
