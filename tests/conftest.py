"""Shared fixtures: a fresh feed and a server for it, stopped after the test."""

from __future__ import annotations

import pytest

from servers import serve
from servers.feed import Feed, make_app


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def feed_server(feed, request):
    with serve(make_app(feed), name=f"test-{request.node.name}") as server:
        yield server
