"""Hitting a server's limits on purpose, and recording how it answered (lesson 12).

Each probe does one thing a careless or hostile client does to the feed's ``/ws`` and returns
what came back, for the lesson to print and assert on (the limits themselves live in
``servers.ws_limits``, ``servers.origins`` and ``servers.runtime.HEAD_TIMEOUT``):

- ``oversized(url, size)``: one message of ``size`` bytes; the close code and reason;
- ``flood(url, count)``: ``count`` publications as fast as possible on one socket, while a
  second socket (a bystander) publishes one post after the flood; what each saw;
- ``one_too_many(url, cap)``: ``cap + 1`` sockets at once; the statuses and the refusal's body;
- ``unfinished_head(host, port, within)``: a handshake whose request head never ends; whether
  the server closed the connection, after how long, and what it sent (nothing, if it just
  closed);
- ``origins_answered(url, origins)``: a handshake per ``Origin`` (a Python client, which may
  send any), the status and the reason in the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@dataclass
class Closed:
    """How a socket ended: the code and reason the server sent (``None`` if it did not)."""

    code: int | None
    reason: str


async def oversized(url: str, size: int) -> Closed:
    """Send one text message of ``size`` bytes (a valid ``{"text": ...}``) and read to the end."""
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"text": "x" * (size - 12)}))
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
    return Closed(ws.close_code, ws.close_reason or "")


@dataclass
class Flood:
    """One socket publishing ``sent`` messages in a burst, and a bystander beside it."""

    sent: int
    posts_back: int = 0
    """Posts the flooding socket received back (its own, published)."""
    errors: list[str] = field(default_factory=list)
    """In-band ``{"error": ...}`` answers, in order."""
    closed: Closed | None = None
    bystander_published: bool = False
    bystander_received: bool = False
    """The bystander's own post came back to it after the flood."""


async def flood(url: str, count: int) -> Flood:
    """``count`` publications at once on one socket, reading until the server closes it (or
    goes quiet); then a bystander on its own socket publishes one post and waits for it."""
    result = Flood(count)
    async with connect(url) as bystander, connect(url) as flooder:
        for number in range(count):
            try:
                await flooder.send(json.dumps({"text": f"flood {number}"}))
            except ConnectionClosed:
                break
        try:
            while True:
                message = json.loads(await asyncio.wait_for(flooder.recv(), 2.0))
                if "error" in message:
                    result.errors.append(message["error"])
                elif str(message.get("text", "")).startswith("flood"):
                    result.posts_back += 1
        except (TimeoutError, ConnectionClosed):
            pass
        if flooder.close_code is not None:
            result.closed = Closed(flooder.close_code, flooder.close_reason or "")
        await bystander.send(json.dumps({"text": "a bystander's post"}))
        result.bystander_published = True
        while not result.bystander_received:
            message = json.loads(await asyncio.wait_for(bystander.recv(), 5.0))
            result.bystander_received = message.get("text") == "a bystander's post"
    return result


async def one_too_many(url: str, cap: int) -> list[tuple[int, str]]:
    """Open ``cap + 1`` sockets and hold them: ``(status, body)`` for each, 101 for a socket
    that opened."""
    answers, held = [], []
    try:
        for _ in range(cap + 1):
            try:
                held.append(await connect(url))
                answers.append((101, ""))
            except InvalidStatus as refused:
                answers.append((refused.response.status_code,
                                refused.response.body.decode(errors="replace")))
    finally:
        for ws in held:
            await ws.close()
    return answers


@dataclass(frozen=True)
class Unfinished:
    closed_by_server: bool
    after: float
    answer: bytes


def unfinished_head(host: str, port: int, within: float) -> Unfinished:
    """Start a WebSocket handshake and never finish its head (no blank line), as a Slowloris
    client does; wait up to ``within`` seconds for the server to close the connection."""
    with socket.create_connection((host, port), timeout=within) as sock:
        started = time.monotonic()
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n".encode())
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
            closed = True
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
        return Unfinished(closed, time.monotonic() - started, answer)


async def origins_answered(url: str, origins: dict[str, str | None]) -> dict[str, tuple[int, str]]:
    """For each named ``Origin``: the handshake's status (101 when it switched) and the
    ``error`` of a refusal's JSON body."""
    answers = {}
    for name, origin in origins.items():
        try:
            async with connect(url, origin=origin):
                answers[name] = (101, "")
        except InvalidStatus as refused:
            body = refused.response.body.decode(errors="replace")
            with contextlib.suppress(ValueError):
                body = json.loads(body).get("error", body)
            answers[name] = (refused.response.status_code, body)
    return answers
