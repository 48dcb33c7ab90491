"""The running example: a news feed answering "do we have new posts?" (lesson 00).

``Feed`` holds the posts; ``make_app(feed)`` serves them over HTTP. Later lessons add a route
per transport to the same app, so every lesson compares like with like.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from aiohttp import web

from servers.http import bad_request, make_base_app, preflight

FEED = web.AppKey("feed", "Feed")
MAX_TEXT = 1000
"""Longest post text accepted, in characters."""


class Feed:
    """Posts ``{"id", "text", "ts"}`` with ids rising from 1, the newest ``history`` kept.

    ``publish`` may be called from any thread: a notebook cell on the main thread, a handler on
    the servers' loop.
    """

    def __init__(self, *, history: int = 1000, max_text: int = MAX_TEXT) -> None:
        if history < 1:
            raise ValueError("history must hold at least one post")
        self.max_text = max_text
        self._posts: deque[dict] = deque(maxlen=history)
        self._last_id = 0
        self._lock = threading.Lock()

    def publish(self, text: str) -> dict:
        """Add a post and return it. ``ValueError`` says why a text is refused."""
        if not isinstance(text, str):
            raise ValueError(f'"text" must be a string, got {type(text).__name__}')
        if not text.strip():
            raise ValueError('"text" is empty')
        if len(text) > self.max_text:
            raise ValueError(f'"text" has {len(text)} characters; the limit is {self.max_text}')
        with self._lock:
            self._last_id += 1
            post = {"id": self._last_id, "text": text, "ts": time.time()}
            self._posts.append(post)
        return dict(post)

    def since(self, post_id: int) -> list[dict]:
        """The posts after ``post_id`` still in the history, oldest first."""
        with self._lock:
            return [dict(p) for p in self._posts if p["id"] > post_id]

    @property
    def last_id(self) -> int:
        """The newest post's id, 0 before the first post."""
        return self._last_id

    def __len__(self) -> int:
        return len(self._posts)

    def __repr__(self) -> str:
        return f"<Feed {len(self)} posts, last id {self.last_id}>"


def make_app(feed: Feed | None = None) -> web.Application:
    """The feed's HTTP app: ``POST /posts`` and ``GET /posts?since=ID``, CORS, JSON errors."""
    app = make_base_app()
    app[FEED] = feed if feed is not None else Feed()
    app.router.add_post("/posts", publish_post)
    app.router.add_get("/posts", list_posts)
    app.router.add_route("OPTIONS", "/posts", preflight)
    return app


async def publish_post(request: web.Request) -> web.Response:
    """``POST /posts`` with ``{"text": ...}``: 201 and the post, or 400 saying what was wrong."""
    try:
        body = json.loads(await request.read())
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise bad_request(f'the body is not valid JSON ({error}); send {{"text": "..."}}') from None
    if not isinstance(body, dict) or "text" not in body:
        raise bad_request('the body must be a JSON object with a "text" field: {"text": "..."}')
    try:
        post = request.app[FEED].publish(body["text"])
    except ValueError as error:
        raise bad_request(str(error)) from None
    return web.json_response(post, status=201)


async def list_posts(request: web.Request) -> web.Response:
    """``GET /posts?since=ID``: the posts after ``ID`` (default 0), oldest first."""
    since = parse_post_id(request.query.get("since", "0"), "since")
    return web.json_response(request.app[FEED].since(since))


def parse_post_id(value: str, field: str) -> int:
    """A post id from a query string, or a 400 that says what was wrong."""
    try:
        post_id = int(value)
    except ValueError:
        raise bad_request(f'"{field}" must be a post id (a whole number), got {value!r}') from None
    if post_id < 0:
        raise bad_request(f'"{field}" must be 0 or more, got {post_id}')
    return post_id
