"""What each step of the notification page's run must show, and what it means when it does
not (lesson 14): ``lab.notify_page.drive_notify_page`` reads a ``Step`` after each action and
asks the verdict of that step, which is ``None`` or a sentence naming the likely mistake."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Step:
    """What the page showed after one step (``expected``: the badge it must show): ``badge``
    (its number), ``listed`` (the ``(channel, id)`` of each ``#list li``), ``server`` (the
    server's unread count per channel, when asked), ``drops`` (``#state``'s count of lost
    connections)."""

    name: str
    expected: int
    badge: int | None
    listed: list[tuple[str, int]]
    server: dict[str, int] = field(default_factory=dict)
    drops: int = 0
    missing: list[tuple[str, int]] = field(default_factory=list)
    """The run's own posts so far that the list does not show."""


def _twice(step: Step) -> list[tuple[str, int]]:
    return sorted({item for item in step.listed if step.listed.count(item) > 1})


def live(step: Step, total: int) -> str | None:
    """After ``total`` posts: each listed once, the badge ``total``."""
    if _twice(step):
        return f"the list shows {_twice(step)} more than once: list each (channel, id) once"
    if step.missing:
        return (
            f"the page received {total - len(step.missing)} of the {total} notifications "
            f"posted (missing: {step.missing})"
        )
    if step.badge != total:
        more = (
            ": it counts a notification more than once (the SSE stream and the WebSocket "
            "both bring each post; a reconnect replays one). Count newest id - read mark "
            "per channel, or each (channel, id) once"
            if (step.badge or 0) > total
            else ""
        )
        return f"the badge shows {step.badge} with {total} unread notifications listed{more}"
    return None


def marked(step: Step, total: int) -> str | None:
    """After "mark all read": nothing unread on the server, then none on the badge."""
    unread = sum(step.server.values())
    if unread:
        return (
            f"after 'mark all read' the server still counts {unread} unread {step.server}: "
            'the read mark never reached it. Send {"read": ID} on the channel\'s WebSocket '
            "(a badge cleared only in the page comes back on a reload)"
        )
    if step.badge != 0:
        return f"after 'mark all read' the server counts 0 unread but the badge shows {step.badge}"
    return None


def reloaded(step: Step, total: int) -> str | None:
    """After a reload: the badge still 0 (the marks are the server's), the list replayed."""
    if step.badge != 0:
        return f"after a reload the badge shows {step.badge}, not 0: read marks are the server's"
    if step.missing:
        return (
            f"after a reload the list shows {total - len(step.missing)} of {total} "
            "notifications: the page must replay the channels' history (EventSource from "
            "lastEventId=0)"
        )
    return None


def one_more(step: Step, total: int) -> str | None:
    """One more post after all were read: the badge 1."""
    if step.badge != 1:
        return f"one more post after everything was read: the badge shows {step.badge}, not 1"
    return None
