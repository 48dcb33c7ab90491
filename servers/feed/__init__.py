"""The running example: a news feed answering "do we have new posts?" (lesson 00).

``Feed`` holds the posts (``servers.feed.model``, no HTTP in it); ``make_app(feed)`` serves
them (``servers.feed.app``, which assembles one route module per transport: later lessons add
a route to the same app, so every lesson compares like with like). Imports point one way:
``app`` → route modules (``servers.polling``, ``servers.events``, ``servers.ws``) → ``model``.

So that a route module importing the model does not load the app that imports it, the app's
names (``make_app``, its keys ``FEED`` and ``SOCKETS``, the long poll's ``MAX_WAIT`` and
``DEFAULT_WAIT``) are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from servers.feed.model import MAX_TEXT, Feed, PostNotTaken

_LOADED_ON_USE = {
    "make_app": "servers.feed.app",
    "FEED": "servers.feed.app",
    "SOCKETS": "servers.feed.app",
    "MAX_WAIT": "servers.polling",
    "DEFAULT_WAIT": "servers.polling",
}


def __getattr__(name: str) -> Any:
    if name in _LOADED_ON_USE:
        return getattr(importlib.import_module(_LOADED_ON_USE[name]), name)
    raise AttributeError(f"module 'servers.feed' has no attribute {name!r}")


__all__ = ["MAX_TEXT", "Feed", "PostNotTaken", *_LOADED_ON_USE]
