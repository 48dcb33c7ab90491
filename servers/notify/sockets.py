"""A channel's WebSocket for clients that also send: posts, and read marks (lesson 14).

``GET /channels/NAME/ws`` is lesson 07's feed socket (``servers.ws.websocket``: lesson 12's
``Origin`` check and limits, lesson 11's fan-out and stall handling, 1001 on shutdown), with
one message more: ``{"read": ID}`` marks the channel's posts up to ``ID`` read
(``servers.notify.reads``) and is answered ``{"channel", "read", "unread"}``. A socket opened
with a login first says where its user's read mark is, so a badge shows at once. A read mark
counts against the socket's message rate as a post does.

The feed socket reads its messages with ``async for message in ws``; ``ReadingSocket``
answers the read marks in its ``receive`` and hands every other message on, so the feed's
loop (posting, rate limits, errors) is reused as it is. ``servers.ws_limits.Guard.websocket``
is the hook that makes the socket, so ``ReadingGuard`` makes this one instead.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from servers.ws_limits import Guard, LimitedWebSocket, Throttle

OnRead = Callable[[object], Awaitable[dict]]
"""``on_read(post_id)``: mark read, and the state to answer (``ValueError``: refused)."""


class ReadingSocket(LimitedWebSocket):
    """A feed socket that answers ``{"read": ID}`` itself (``on_read``; None: not logged in)
    and hands every other message to the feed's loop."""

    def __init__(
        self, max_message: int | None, on_read: OnRead | None, throttle: Throttle, **options
    ) -> None:
        super().__init__(max_message, **options)
        self._on_read, self._throttle = on_read, throttle
        self.greeting: dict | None = None

    async def prepare(self, request: web.BaseRequest):
        writer = await super().prepare(request)
        if self.greeting is not None:
            await self.send_str(json.dumps(self.greeting))
        return writer

    async def receive(self, timeout: float | None = None):
        while True:
            message = await super().receive(timeout)
            mark = _read_mark(message)
            if mark is _NOT_A_MARK:
                return message
            if (over := self._throttle.refusal()) is not None:
                if self._throttle.exhausted:
                    await self.close(
                        code=WSCloseCode.POLICY_VIOLATION, message=self._throttle.close_reason()
                    )
                    return await super().receive(timeout)  # the close, for the feed's loop
                await self.send_str(json.dumps({"error": over}))
                continue
            await self.send_str(json.dumps(await self._answer(mark)))

    async def _answer(self, mark: object) -> dict:
        if self._on_read is None:
            return {"error": "log in (POST /login) to mark posts read"}
        try:
            return await self._on_read(mark)
        except ValueError as error:
            return {"error": str(error)}


_NOT_A_MARK = object()


def _read_mark(message) -> object:
    """The id of a ``{"read": ID}`` text message, else ``_NOT_A_MARK``."""
    if message.type != WSMsgType.TEXT:
        return _NOT_A_MARK
    try:
        parsed = json.loads(message.data)
    except ValueError:
        return _NOT_A_MARK
    if isinstance(parsed, dict) and "read" in parsed and "text" not in parsed:
        return parsed["read"]
    return _NOT_A_MARK


class ReadingGuard(Guard):
    """The app's ``Guard`` (its limits, its count of sockets per address) for one handshake,
    making a ``ReadingSocket`` that greets with ``greeting`` and marks with ``on_read``."""

    def __init__(self, shared: Guard, on_read: OnRead | None, greeting: dict | None) -> None:
        self.limits, self.open_from = shared.limits, shared.open_from  # shared, not copied
        self._on_read, self._greeting = on_read, greeting

    def websocket(self, **options) -> ReadingSocket:
        socket = ReadingSocket(self.limits.max_message, self._on_read, self.throttle(), **options)
        socket.greeting = self._greeting
        return socket
