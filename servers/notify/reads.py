"""Read marks: how far each user has read each channel, shared by every backend (lesson 14).

A client that has shown posts up to id N marks them read (``{"read": N}`` on its WebSocket, or
``POST /channels/NAME/read``). The mark must survive a reconnect to another backend and reach
the user's other tabs, so it is kept where posts are: each user has a channel of the service's
own, ``reads:USER`` (no client can name it: ``:`` is no channel name), whose posts are marks
``{"channel": NAME, "read": N}``, numbered and kept by the backplane like any post. The mark
that counts is the highest one held for that channel, so marks only move forward, whatever
order two tabs send them in. Unread = the channel's newest id minus the mark: a channel's ids
are consecutive (its broker counts them), so the count is exact even beyond the history.
"""

from __future__ import annotations

import json

from servers.http import compact_json
from servers.notify.channels import Channels


def reads_channel(user: str) -> str:
    """The name of ``user``'s channel of read marks."""
    return f"reads:{user}"


class ReadMarks:
    """Read marks kept in each user's ``reads:USER`` channel of ``channels``."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    async def state(self, user: str, name: str) -> dict:
        """``{"channel", "read", "unread"}``: ``user``'s mark on channel ``name``."""
        channel = await self.channels.get(name)
        read = await self._mark(user, name)
        return {"channel": name, "read": read, "unread": max(0, channel.feed.last_id - read)}

    async def mark(self, user: str, name: str, post_id: object) -> dict:
        """Mark ``name``'s posts up to ``post_id`` read for ``user``; the state after it.
        ``ValueError`` saying why for an id that is not a post of the channel."""
        channel = await self.channels.get(name)
        if type(post_id) is not int or not 0 <= post_id <= channel.feed.last_id:
            raise ValueError(
                f'"read" must be the id of a post of {name!r} (0 to {channel.feed.last_id}), '
                f"got {post_id!r:.40}"
            )
        if post_id > await self._mark(user, name):
            reads = await self.channels.get(reads_channel(user), internal=True)
            await reads.feed.submit(compact_json({"channel": name, "read": post_id}))
        return await self.state(user, name)

    async def _mark(self, user: str, name: str) -> int:
        reads = await self.channels.get(reads_channel(user), internal=True)
        marks = (json.loads(post["text"]) for post in reads.feed.since(0))
        return max((mark["read"] for mark in marks if mark["channel"] == name), default=0)
