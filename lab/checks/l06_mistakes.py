"""Exercise 06's known mistakes (lesson 06): what a wrong accept key or a wrongly decoded frame
looks like, and the hint that names each one. ``lab.checks.l06`` runs the scenarios."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

from servers.rfc6455.codec import GUID, Frame, apply_mask

RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _accept(text: str | bytes, digest: Callable = hashlib.sha1) -> str:
    """base64 of a digest of ``text``: the answer when ``text`` is key + GUID."""
    return _b64(digest(text.encode() if isinstance(text, str) else text).digest())


ACCEPT_MISTAKES: list[tuple[Callable[[str], str], str]] = [  # what it returns → the hint
    (
        lambda k: hashlib.sha1((k + GUID).encode()).hexdigest(),
        "that is the hex digest: "
        "base64-encode the 20 raw bytes of .digest() instead of returning .hexdigest().",
    ),
    (
        lambda k: _b64(hashlib.sha1((k + GUID).encode()).hexdigest().encode()),
        "you base64-encoded "
        "the hex text of the digest: encode the 20 raw bytes of .digest(), not .hexdigest().",
    ),
    (lambda k: _accept(k + GUID) + "\n", "base64.encodebytes adds a newline: use b64encode."),
    (
        lambda k: _accept(k),
        "you forgot to append the GUID "
        '"258EAFA5-E914-47DA-95CA-C5AB0DC85B11" to the key before hashing.',
    ),
    (lambda k: _accept(GUID + k), "the GUID goes after the key, not before it."),
    (
        lambda k: _accept(k + GUID.lower()),
        "the GUID is written in upper case, exactly as RFC 6455 gives it.",
    ),
    (
        lambda k: _accept(base64.b64decode(k) + GUID.encode()),
        "hash the key as the text it is: do not base64-decode it first.",
    ),
    (
        lambda k: _accept(k + GUID, hashlib.sha256),
        "the RFC uses SHA-1 (hashlib.sha1), not SHA-256.",
    ),
    (
        lambda k: _accept(k + GUID).rstrip("="),
        "keep the '=' padding: the base64 of 20 bytes is 28 characters, the last one '='.",
    ),
    (
        lambda k: _accept(k + GUID).replace("+", "-").replace("/", "_"),
        "use base64.b64encode, not "
        "urlsafe_b64encode: the answer uses the standard alphabet, with + and /, not - and _.",
    ),
]


def accept_hint(key: str, got: Any) -> str:
    if isinstance(got, bytes):
        return 'return a str: base64.b64encode(...) gives bytes, so add .decode("ascii").'
    if not isinstance(got, str):
        return "return the base64 text, a str of 28 characters ending in '='."
    for mistake, hint in ACCEPT_MISTAKES:
        if got == mistake(key):
            return hint
    if key != RFC_KEY and got == RFC_ACCEPT:
        return (
            "that is the answer for RFC 6455's example key, not this one: concatenate the "
            "key's text and the GUID, SHA-1 the result, then base64-encode the digest."
        )
    for typo in _guid_typos():
        if got == _accept(key + typo):
            return f"your GUID is {typo!r}; RFC 6455's is {GUID!r}: copy it exactly."
    if re.fullmatch(r"[A-Za-z0-9+/]{27}=", got):  # the shape of base64 for 20 bytes
        return (
            "the answer has the right shape (base64 of 20 bytes), so the hashing is probably "
            "right but its input is not: hash exactly key + GUID, nothing between them, and "
            f"check the GUID character by character: {GUID}."
        )
    return (
        "concatenate the key's text and the GUID, SHA-1 the result (.digest(), 20 bytes), "
        "then base64-encode those bytes."
    )


def _guid_typos() -> list[str]:
    """The GUID with one character changed, dropped or swapped with the next, and other slips."""
    typos = {GUID.replace("-", ""), "{" + GUID + "}", " " + GUID, GUID + "\n", GUID + " "}
    for i in range(len(GUID)):
        typos.add(GUID[:i] + GUID[i + 1 :])
        typos.update(GUID[:i] + c + GUID[i + 1 :] for c in "0123456789ABCDEFOIl-")
        typos.add(GUID[:i] + GUID[i + 1 : i + 2] + GUID[i] + GUID[i + 2 :])
    return sorted(typos - {GUID})


LENGTH_16 = "length 126 means the next 2 bytes are the length (big-endian, struct '!H')."
LENGTH_64 = "length 127 means the next 8 bytes are the length (big-endian, struct '!Q')."
UNMASK = "XOR payload byte i with mask[i % 4]; the 4-byte key comes just before the payload."
RSV_HINT = (
    "the opcode is the low 4 bits of byte 0 only: first & 0x0F. The three RSV bits "
    "(0x70) sit between FIN and the opcode; ignore them."
)


def frame_hint(data: bytes, want: Frame, got: dict, wrong: list[str]) -> str | None:
    """The known mistakes a wrong frame shows: (its symptom, the hint that names it)."""
    payload = got["payload"]
    blob = bytes(payload) if isinstance(payload, bytes | bytearray) else None
    bad_payload = "payload" in wrong and blob is not None
    start, size = len(data) - len(want.payload), len(want.payload)
    from_key = data[start - 4 : start - 4 + size]
    length7 = data[1] & 0x7F
    symptoms = [
        (bad_payload and want.masked and blob == data[start:], "you forgot to unmask: " + UNMASK),
        (
            bad_payload and want.masked and blob == from_key,
            "the payload starts after the 4-byte masking key, not at it.",
        ),
        (
            bad_payload and want.masked and blob == apply_mask(from_key, data[start - 4 : start]),
            "you unmasked from the masking key's offset: the XOR is right, but the payload starts "
            "4 bytes later, after the key (buffer[offset + 4:]).",
        ),
        (bad_payload and size > 0 and length7 == 126 and len(blob) != size, LENGTH_16),
        (bad_payload and size > 0 and length7 == 127 and len(blob) != size, LENGTH_64),
        (
            "fin" in wrong and got["fin"] == 0x80,
            "fin must be a bool: first & 0x80 is 128, not True; use bool(buffer[0] & 0x80).",
        ),
        (
            "masked" in wrong and got["masked"] == 0x80,
            "masked must be a bool: second & 0x80 is 128, not True; use bool(buffer[1] & 0x80).",
        ),
        (
            wrong == ["masked"] and got["masked"] is False and want.masked,
            "the payload is unmasked correctly, yet masked is False: pass masked as Frame's 4th "
            "argument; it defaults to False.",
        ),
        ("opcode" in wrong and got["opcode"] == data[0] & 0x7F, RSV_HINT),
        ("fin" in wrong, "FIN is the top bit of byte 0: bool(first & 0x80)."),
        ("opcode" in wrong, "the opcode is the low 4 bits of byte 0: first & 0x0F."),
        ("masked" in wrong, "MASK is the top bit of byte 1: bool(second & 0x80)."),
        ("payload" in wrong and not isinstance(payload, bytes), "return the payload as bytes."),
    ]
    return next((hint for symptom, hint in symptoms if symptom), None)
