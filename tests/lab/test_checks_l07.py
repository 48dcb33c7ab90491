"""Exercise 07's check: a right broadcast room passes, each typical mistake is named."""

from __future__ import annotations

import contextlib

import pytest
from aiohttp import WSMsgType, web
from checks_support import assert_named, assert_passes, failure_of

from lab import checks


def room(
    *,
    echo=False,
    remove=True,
    survive=True,
    only_one=False,
    one_try=False,
    after_loop=False,
    forget_return=False,
    over_the_set=False,
    drop_failed=None,
    leave_with="discard",
    closed_check=False,
):
    """A room handler with the chosen mistakes, and its set of members.

    ``one_try``: one try/except around the whole broadcast loop, so it stops at the first
    failing send. ``after_loop``: the socket is removed after the ``async for`` loop, not in
    a ``finally:``. ``over_the_set``: it loops over ``members`` itself, not a copy, and
    discards a member whose send failed. ``drop_failed``: the name of the set method
    (``"remove"`` or ``"discard"``) the broadcast calls on a member whose send failed;
    ``leave_with``: the one the handler's ``finally:`` calls on its own socket.
    ``closed_check``: skips a member whose ``closed`` is true instead of catching the error.
    """
    members: set = set()

    async def broadcast(ws, data):
        if one_try:
            with contextlib.suppress(ConnectionError):
                for other in list(members):
                    if other is not ws:
                        await other.send_str(data)
            return
        for other in members if over_the_set else list(members):
            if other is ws and not echo:
                continue
            if over_the_set:
                try:
                    await other.send_str(data)
                except ConnectionError:
                    members.discard(other)
            elif closed_check:
                if not other.closed:
                    await other.send_str(data)
            elif drop_failed:
                try:
                    await other.send_str(data)
                except ConnectionError:
                    getattr(members, drop_failed)(other)
            elif survive:
                with contextlib.suppress(ConnectionError):
                    await other.send_str(data)
            else:
                await other.send_str(data)
            if only_one:
                break

    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        members.add(ws)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await broadcast(ws, message.data)
            if after_loop:
                members.discard(ws)
        finally:
            if remove and not after_loop:
                getattr(members, leave_with)(ws)
        if not forget_return:
            return ws

    return handler, members


@pytest.mark.parametrize(
    "how",
    [{}, {"drop_failed": "discard"}, {"leave_with": "remove"}],
    ids=[
        "broadcasts to the others and survives leavers",
        "drops a failed member with discard",
        "removes its own socket with remove and nowhere else",
    ],
)
def test_a_right_room_passes(how, capsys):
    assert_passes(checks.check_07_room, *room(**how), exercise="07.1", capsys=capsys)


@pytest.mark.parametrize(
    ("mistakes", "says"),
    [
        ({"echo": True}, "received its own message back"),
        ({"only_one": True}, "reached one client only"),
        ({"remove": False}, "still holds 5 sockets"),
        ({"survive": False}, "sending to a socket whose client had just vanished"),
        ({"survive": False, "remove": False}, "the broadcast stopped there"),
        ({"one_try": True}, "the broadcast stopped at a dead socket in `members`"),
        ({"after_loop": True}, "CancelledError inside `async for`"),
        ({"forget_return": True}, "`return ws`"),
        ({"over_the_set": True}, "RuntimeError: Set changed size during iteration"),
        ({"closed_check": True}, "before `ws.closed` says so"),
        ({"drop_failed": "remove"}, "use `members.discard(...)`"),
        ({"drop_failed": "discard", "leave_with": "remove"}, "removed from `members` twice"),
        ({"drop_failed": "remove", "leave_with": "remove"}, "KeyError"),
    ],
)
def test_each_typical_mistake_gets_a_message_naming_it(mistakes, says):
    assert_named(checks.check_07_room, *room(**mistakes), exercise="07.1", says=says, hint=True)


@pytest.mark.parametrize(
    ("mistakes", "line"),
    [
        ({"drop_failed": "remove"}, "getattr(members, drop_failed)(other)"),
        ({"drop_failed": "discard", "leave_with": "remove"}, "getattr(members, leave_with)(ws)"),
    ],
)
def test_a_socket_removed_twice_is_shown_at_the_line_that_removed_it_again(mistakes, line):
    """A dead member's send fails and the broadcast drops it while its own handler drops it
    too, in either order: ``members.remove`` then raises KeyError on the second."""
    twice = "removed from `members` twice"
    assert line in failure_of(checks.check_07_room, *room(**mistakes), match=twice)


def test_a_failed_send_is_shown_at_the_learners_line_not_inside_aiohttp():
    assert "await other.send_str(data)" in failure_of(checks.check_07_room, *room(survive=False))


def test_an_error_in_the_dead_socket_round_is_not_blamed_on_the_dead_socket():
    message = failure_of(checks.check_07_room, *room(over_the_set=True))
    assert "whose client had just vanished" not in message
    assert "list(members)" in message


def test_a_handler_that_never_adds_to_members_is_told_to():
    handler, _ = room()
    failure_of(checks.check_07_room, handler, set(), match=r"`members` holds 0 socket\(s\)")


def test_an_unwritten_handler_is_not_written_yet():
    async def room_handler(request):
        raise NotImplementedError()

    assert "Hint:" in failure_of(checks.check_07_room, room_handler, set(), match="not written yet")


def test_a_plain_function_is_told_to_be_async():
    failure_of(checks.check_07_room, lambda request: None, set(), match="async def")


def test_the_check_leaves_no_server_and_no_task_behind():
    from servers import runtime

    checks.check_07_room(*room())
    with contextlib.suppress(checks.CheckFailed):
        checks.check_07_room(*room(survive=False))
    assert not [s for s in runtime.running_servers() if s.name and "check-07" in s.name]
    assert runtime.pending_tasks() == []
