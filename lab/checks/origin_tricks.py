"""The tricks exercise 12's check tries on an Origin allow-list, each with the mistake it
catches and a hint (lesson 12, section 3, tries them live in Chromium).

``tricks(origin)`` derives them from the allowed origin: another site, ``null``, a suffix and
a prefix trick, the origin cut short, the same host on another port and on another scheme.
"""

from __future__ import annotations

from servers.origins import parse_origin

WHOLE = "compare the whole origin, `origin in ALLOWED_ORIGINS` on the set: an exact match."


def tricks(origin: str) -> list[tuple[str, str, str]]:
    """``(trick origin, what it is, hint)`` for each mistake an Origin check makes."""
    scheme, host, port = parse_origin(origin)
    at = f":{port}" if port else ""
    other_port = 8443 if port != 8443 else 9443
    other_scheme = "http" if scheme == "https" else "https"
    return [
        (
            "https://evil.example",
            "a page on another site",
            "compare headers.get('Origin') with ALLOWED_ORIGINS and refuse every other origin.",
        ),
        (
            "null",
            "the opaque origin of a sandboxed iframe or a file: page, which any attacker can "
            "produce",
            "never allow 'null', nor treat it like a missing Origin: it names no page.",
        ),
        (
            f"{scheme}://{host}.evil.example{at}",
            "a suffix trick: the attacker's domain with yours in front",
            f"`in` on a string and startswith() match longer names: {WHOLE}",
        ),
        (
            f"{scheme}://evil{host}{at}",
            "a prefix trick: the attacker's name in front of yours",
            f"endswith() matches a name with the attacker's text in front: {WHOLE}",
        ),
        (
            origin[:-1],
            "your origin cut short, as https://app.example.co is inside https://app.example.com",
            "`origin in allowed` on each allowed string, or allowed.startswith(origin), "
            f"matches any piece of yours: {WHOLE}",
        ),
        (
            f"{scheme}://{host}:{other_port}",
            "the same host on another port: another origin, such as a sibling app",
            f"an origin is scheme, host and port: {WHOLE}",
        ),
        (
            f"{other_scheme}://{host}{at}",
            f"the same host over {other_scheme}: another origin",
            f"an origin is scheme, host and port: {WHOLE}",
        ),
    ]
