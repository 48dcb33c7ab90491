"""lab.deflate_leak: permessage-deflate's memory per connection, and its length side channel."""

from __future__ import annotations

import asyncio

from lab.deflate_leak import (
    SECRET_LENGTH,
    WireObserver,
    memory_per_connection,
    recover,
    reflect_app,
    toy_secret,
)
from servers import serve


def test_compression_costs_the_server_more_memory_per_connection():
    on = asyncio.run(memory_per_connection("deflate", 100))
    off = asyncio.run(memory_per_connection(None, 100))
    assert on > off > 0


def test_the_secret_is_read_from_compressed_lengths_and_not_without_compression():
    secret = toy_secret()
    with serve(reflect_app(secret), name="test-reflect") as server:
        with WireObserver(server.host, server.port) as observer:
            assert observer.compressed
            lengths = []
            guessed, ties = recover(observer, record=lengths)
            assert observer.last_compressed
        with WireObserver(server.host, server.port, compress=False) as plain:
            assert not plain.compressed
            blind, blind_ties = recover(plain)
    assert guessed == secret and ties == 0
    assert len(lengths) == SECRET_LENGTH and all(
        sizes[right] < min(n for c, n in sizes.items() if c != right)
        for sizes, right in zip(lengths, secret, strict=True))
    assert blind_ties == SECRET_LENGTH  # every guess the same length: nothing to learn
