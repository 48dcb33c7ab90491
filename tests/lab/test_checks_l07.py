"""Exercise 07's check: a right broadcast room passes, each typical mistake is named."""

from __future__ import annotations

import contextlib

import pytest
from aiohttp import WSMsgType, web

from lab import checks


def room(*, echo=False, remove=True, survive=True, only_one=False):
    """A room handler with the chosen mistakes, and its set of members."""
    members: set = set()

    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        members.add(ws)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                for other in list(members):
                    if other is ws and not echo:
                        continue
                    if survive:
                        with contextlib.suppress(ConnectionError):
                            await other.send_str(message.data)
                    else:
                        await other.send_str(message.data)
                    if only_one:
                        break
        finally:
            if remove:
                members.discard(ws)
        return ws

    return handler, members


def test_a_room_that_broadcasts_to_the_others_and_survives_leavers_passes(capsys):
    checks.check_07_room(*room())
    assert "✔ exercise 07.1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mistakes", "says"),
    [
        ({"echo": True}, "received its own message back"),
        ({"only_one": True}, "reached one client only"),
        ({"remove": False}, "still holds 5 sockets"),
        ({"survive": False}, "sending to a socket whose client had just vanished"),
        ({"survive": False, "remove": False}, "the broadcast stopped there"),
    ],
)
def test_each_typical_mistake_gets_a_message_naming_it(mistakes, says):
    with pytest.raises(checks.CheckFailed, match="exercise 07.1") as failure:
        checks.check_07_room(*room(**mistakes))
    assert says in str(failure.value)
    assert "Hint:" in str(failure.value)


def test_a_handler_that_never_adds_to_members_is_told_to():
    handler, _ = room()
    with pytest.raises(checks.CheckFailed, match=r"`members` holds 0 socket\(s\)"):
        checks.check_07_room(handler, set())


def test_an_unwritten_handler_is_not_written_yet():
    async def room_handler(request):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailed, match="not written yet") as failure:
        checks.check_07_room(room_handler, set())
    assert "Hint:" in str(failure.value)


def test_a_plain_function_is_told_to_be_async():
    with pytest.raises(checks.CheckFailed, match="async def"):
        checks.check_07_room(lambda request: None, set())


def test_the_check_leaves_no_server_and_no_task_behind():
    from servers import runtime

    checks.check_07_room(*room())
    with contextlib.suppress(checks.CheckFailed):
        checks.check_07_room(*room(survive=False))
    assert not [s for s in runtime.running_servers() if s.name and "check-07" in s.name]
    assert runtime.pending_tasks() == []
