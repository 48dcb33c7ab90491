"""The limits a ``/ws`` connection lives under, after OWASP's cheat sheet (lesson 12).

RFC 6455 lets a frame carry up to 2^63 bytes (section 5.2) and a client send as fast as its
link allows, so a server bounds both. The defaults follow OWASP's WebSocket Security Cheat
Sheet ("Denial-of-Service Protection": "message size limits (typically 64KB or less)" and
"100 messages per minute is a common starting point"):

- a message over ``MAX_MESSAGE`` bytes closes the socket with 1009 (message too big) and a
  reason saying the limit (aiohttp's ``max_msg_size`` refuses the frame from its header, before
  buffering the payload, but closes with no reason: ``LimitedWebSocket`` adds one);
- a connection may send ``RATE`` messages per ``PER`` seconds after a burst of as many
  (``servers.rate.TokenBucket``); a message over the rate is dropped and answered in-band with
  ``{"error": ...}`` saying why and when to try again; after ``STRIKES`` such answers in a row
  the next one closes the socket with 1008 (policy violation) and a reason. Other connections
  have their own buckets;
- optionally, at most ``per_address`` open sockets from one client address (429 past it). Off
  by default: lesson 08 opens a thousand sockets from one address, and behind a proxy every
  client shares the proxy's address.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from servers.rate import TokenBucket

MAX_MESSAGE = 64 * 1024
"""Bytes in one message (after decompression), OWASP's "64KB or less"."""
RATE = 100
"""Messages a connection may send per ``PER`` seconds (OWASP's "100 messages per minute")."""
PER = 60.0
STRIKES = 10
"""Messages over the rate answered with an in-band error before the next one closes (1008)."""


@dataclass(frozen=True)
class WSLimits:
    """What one ``/ws`` app allows; ``None`` switches a limit off."""

    max_message: int | None = MAX_MESSAGE
    rate: float | None = RATE
    per: float = PER
    burst: int | None = None
    """Messages that may arrive at once; ``None``: ``rate`` (a full period's worth)."""
    strikes: int = STRIKES
    per_address: int | None = None
    """Open sockets from one client address; ``None``: no cap."""


class LimitedWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket with a message limit of ``max_message`` bytes (exactly that many
    pass) whose 1009 close carries a reason a client can show."""

    def __init__(self, max_message: int | None, **options) -> None:
        self.max_message = max_message
        super().__init__(max_msg_size=0 if max_message is None else max_message + 1, **options)

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            message = (
                f"message too big: this server takes at most {self.max_message} bytes".encode()
            )
        return await super().close(code=code, message=message, drain=drain)


class Throttle:
    """One connection's rate: ``refusal()`` for each message it sends."""

    def __init__(self, limits: WSLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.refused = 0
        """Messages over the rate in a row (an accepted one resets it)."""
        self._bucket = (
            None
            if limits.rate is None
            else TokenBucket(limits.rate / limits.per, limits.burst or limits.rate, clock)
        )

    def refusal(self) -> str | None:
        """``None`` when this message is within the rate; else the error to send back."""
        if self._bucket is None or self._bucket.take():
            self.refused = 0
            return None
        self.refused += 1
        limits = self.limits
        return (
            f"rate limit: at most {limits.rate:g} messages per {limits.per:g} s on one socket; "
            f"this one was dropped, the next is taken in {self._bucket.wait():.1f} s "
            f"({self.refused} of {limits.strikes} refusals before the socket is closed with 1008)"
        )

    @property
    def exhausted(self) -> bool:
        """Past ``strikes`` refusals in a row: the socket is closed instead of answered."""
        return self.refused > self.limits.strikes

    def close_reason(self) -> bytes:
        """A 1008 close reason (RFC 6455 section 5.5: at most 123 bytes)."""
        limits = self.limits
        reason = (
            f"policy violation: kept sending over {limits.rate:g} messages per {limits.per:g} s"
        )
        return reason.encode()


class Guard:
    """One app's limits, and the open sockets per client address they count."""

    def __init__(self, limits: WSLimits | None = None) -> None:
        self.limits = limits or WSLimits()
        self.open_from: Counter[str] = Counter()

    def opened(self, address: str) -> None:
        self.open_from[address] += 1

    def closed(self, address: str) -> None:
        self.open_from[address] -= 1
        if self.open_from[address] <= 0:
            del self.open_from[address]

    def address_refusal(self, address: str) -> str | None:
        """Why one more socket from ``address`` is refused, or ``None``."""
        cap = self.limits.per_address
        if cap is None or self.open_from[address] < cap:
            return None
        return f"too many WebSockets from {address}: at most {cap} open at once; close one first"

    def websocket(self, **options) -> LimitedWebSocket:
        return LimitedWebSocket(self.limits.max_message, **options)

    def throttle(self) -> Throttle:
        return Throttle(self.limits)
