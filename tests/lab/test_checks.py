"""lab.checks, exercises 03 and 04: wrong answers get a message naming the mistake, right ones
pass."""

from __future__ import annotations

import pytest

from lab import checks


def encode_without_blank_line(data, event=None, id=None):  # noqa: A002
    return "".join(f"data: {line}\n" for line in data.split("\n")).encode()


def encode_without_splitting_cr(data, event=None, id=None):  # noqa: A002
    head = "".join(f"{k}: {v}\n" for k, v in [("event", event), ("id", id)] if v is not None)
    return (head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


@pytest.mark.parametrize(
    ("encode", "says"),
    [
        (encode_without_blank_line, "an event must end with a blank line"),
        (encode_without_splitting_cr, "CRLF and CR inside data"),
        (lambda data, event=None, id=None: f"data: {data}\n\n", "expected bytes"),  # noqa: A002
    ],
)
def test_a_wrong_encoder_gets_a_message_naming_the_mistake(encode, says):
    with pytest.raises(checks.CheckFailed, match="exercise 03.1") as failure:
        checks.check_03_encode(encode)
    assert says in str(failure.value)


def parse_stripping_all_spaces(stream):
    events, data = [], []
    for line in stream.decode().split("\n"):
        if not line and data:
            events.append(("message", "\n".join(data), ""))
            data = []
        elif line.startswith("data"):
            data.append(line.partition(":")[2].strip())
    return events


def test_a_parser_that_strips_every_space_fails_on_the_standards_own_example():
    with pytest.raises(checks.CheckFailed, match="standard's second example"):
        checks.check_03_parse(parse_stripping_all_spaces)


def test_the_reference_parser_passes_the_exercise_checks(capsys):
    from servers.sse import EventParser, encode_event

    def parse(stream):
        return [(e.type, e.data, e.last_event_id) for e in EventParser().feed(stream)]

    checks.check_03_parse(parse)
    checks.check_03_encode(lambda data, event=None, id=None: encode_event(data, event=event, id=id))  # noqa: A002
    assert capsys.readouterr().out.count("✔") == 2


def make_events_handler(*, replay=True, ids=True):
    """An /events handler for exercise 04, right or with one mistake."""
    import json

    from aiohttp import web

    from servers.feed import FEED
    from servers.sse import encode_event

    async def handler(request):
        feed = request.app[FEED]
        value = request.headers.get("Last-Event-ID", "")
        last = int(value) if replay and value.isdigit() else feed.last_id
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        while True:
            for post in await feed.wait_for_posts(last, 15):
                event = encode_event(json.dumps(post), id=post["id"] if ids else None)
                await response.write(event)
                last = post["id"]

    return handler


events_handler_without_replay = make_events_handler(replay=False)
events_handler_without_ids = make_events_handler(ids=False)


def test_an_events_handler_that_ignores_last_event_id_loses_posts_across_the_restart():
    with pytest.raises(checks.CheckFailed, match="exercise 04.1") as failure:
        checks.check_04_events_handler(events_handler_without_replay)
    assert "the missed posts" in str(failure.value)


def test_an_events_handler_with_replay_passes_exercise_04(capsys):
    checks.check_04_events_handler(make_events_handler())
    assert "Last-Event-ID '2'" in capsys.readouterr().out


async def events_handler_that_crashes(request):
    return int(request.headers["Last-Event-ID"])  # KeyError for a new client


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (events_handler_that_crashes, "the handler raised KeyError"),
        (events_handler_without_ids, "the reconnection sent no Last-Event-ID"),
        (events_handler_without_replay, "the reconnection sent Last-Event-ID: 2"),
    ],
)
def test_exercise_04_tells_each_mistake_apart_in_a_short_message(handler, says):
    with pytest.raises(checks.CheckFailed, match="exercise 04.1") as failure:
        checks.check_04_events_handler(handler)
    assert says in str(failure.value) and len(str(failure.value)) < 600
