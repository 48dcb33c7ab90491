"""Compressing a stream of events: what is held back, what a flush costs, and what lengths
leak (lesson 07; lesson 09's "never gzip a stream" is the proxy's side of it).

Pure functions over bytes, with zlib: ``held_back`` feeds events to one gzip stream without
flushing and records what a client would have received after each; ``stream_sizes`` compares
a whole body compressed once, a sync flush after every event (what a server streaming gzip
must do), and every event compressed alone (``permessage-deflate`` without context takeover,
RFC 7692 §7.2.1: the sync flush's 4 trailing bytes removed); ``guess_lengths`` is the length
side channel behind CRIME and BREACH: a secret and an attacker's guess compressed together.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

GZIP = 31
"""zlib's ``wbits`` for a gzip stream (header and trailer), as ``Content-Encoding: gzip``."""
RAW = -15
"""zlib's ``wbits`` for raw deflate, as ``permessage-deflate`` carries it."""
SYNC_TAIL = b"\x00\x00\xff\xff"
"""The empty stored block a sync flush ends with; RFC 7692 §7.2.1 strips it from each message."""


def held_back(events: list[bytes]) -> list[int]:
    """Bytes one gzip stream has emitted after each event is fed to it, with no flush: what a
    client reading that response would have received so far."""
    compressor = zlib.compressobj(wbits=GZIP)
    sent, emitted = [], 0
    for event in events:
        emitted += len(compressor.compress(event))
        sent.append(emitted)
    return sent


@dataclass(frozen=True)
class StreamSizes:
    """Bytes for the same events: as they are, and compressed three ways."""

    raw: int
    whole: int
    """One gzip stream, flushed only at the end: the smallest, and useless for a live stream."""
    flushed: int
    """One gzip stream with ``Z_SYNC_FLUSH`` after every event: each event leaves at once."""
    alone: int
    """Each event its own raw deflate, sync-flushed, tail stripped (no context takeover)."""


def stream_sizes(events: list[bytes]) -> StreamSizes:
    """The sizes of ``events`` sent raw, compressed whole, flushed per event, and alone."""
    whole = zlib.compressobj(wbits=GZIP)
    whole_size = sum(len(whole.compress(e)) for e in events) + len(whole.flush())
    stream = zlib.compressobj(wbits=GZIP)
    flushed = sum(len(stream.compress(e) + stream.flush(zlib.Z_SYNC_FLUSH)) for e in events)
    flushed += len(stream.flush())
    alone = 0
    for event in events:
        one = zlib.compressobj(wbits=RAW)
        message = one.compress(event) + one.flush(zlib.Z_SYNC_FLUSH)
        alone += len(message.removesuffix(SYNC_TAIL))
    return StreamSizes(sum(map(len, events)), whole_size, flushed, alone)


def guess_lengths(secret: str, guesses: list[str], prefix: str = "token=") -> dict[str, int]:
    """Compressed length of one message holding ``prefix + secret`` and, reflected beside
    it, ``prefix + guess``, for each guess: the only thing an eavesdropper on TLS sees.

    A guess that repeats the secret becomes one back-reference, so its message is shorter.
    """
    lengths = {}
    for guess in guesses:
        body = f'{{"session": "{prefix}{secret}", "search": "{prefix}{guess}"}}'.encode()
        compressor = zlib.compressobj(wbits=RAW)
        lengths[guess] = len(compressor.compress(body) + compressor.flush())
    return lengths
