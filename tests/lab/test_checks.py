"""lab.checks: wrong answers get a message naming the mistake, right ones pass."""

from __future__ import annotations

import httpx
import pytest

from lab import checks


def good_publish(base_url, text):
    response = httpx.post(base_url + "/posts", json={"text": text})
    response.raise_for_status()
    return response.json()


def good_new_texts(base_url, since):
    return [p["text"] for p in httpx.get(base_url + "/posts", params={"since": since}).json()]


def test_correct_answers_pass_and_say_so(capsys):
    checks.check_00_publish(good_publish)
    checks.check_00_new_texts(good_new_texts)
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize(
    ("publish", "says"),
    [
        (lambda url, text: httpx.post(url + "/posts", json={"text": text}), "response itself"),
        (lambda url, text: None, "the server holds 0 posts"),
        (lambda url, text: good_publish(url, text) and None, "expected the post"),
        (lambda url, text: good_publish(url, "other"), "the server stored"),
        (lambda url, text: good_publish(url, ""), "raised HTTPStatusError"),
    ],
)
def test_a_wrong_publish_gets_a_message_naming_the_mistake(publish, says):
    with pytest.raises(checks.CheckFailed, match="exercise 00.1") as failure:
        checks.check_00_publish(publish)
    assert says in str(failure.value)


def test_an_http_error_shows_what_the_server_answered():
    with pytest.raises(checks.CheckFailed, match='The server answered: .*"text" is empty'):
        checks.check_00_publish(lambda url, text: good_publish(url, ""))


@pytest.mark.parametrize(
    ("new_texts", "says"),
    [
        (
            lambda url, since: httpx.get(url + "/posts", params={"since": since}).json(),
            "not whole posts",
        ),
        (lambda url, since: good_new_texts(url, 0), "not since=3"),
        (lambda url, since: [p["text"] for p in httpx.get(url + "/posts").json()], "since=None"),
        (lambda url, since: good_new_texts(url, since)[::-1], "in the wrong order"),
        (lambda url, since: good_new_texts(url, since)[:1], "ids are not list positions"),
        (lambda url, since: tuple(good_new_texts(url, since)), "expected a list"),
    ],
)
def test_a_wrong_new_texts_gets_a_message_naming_the_mistake(new_texts, says):
    with pytest.raises(checks.CheckFailed, match="exercise 00.2") as failure:
        checks.check_00_new_texts(new_texts)
    assert says in str(failure.value)


def test_unwritten_code_is_reported_as_not_written_yet_with_a_hint():
    def publish(base_url, text):
        raise NotImplementedError()

    with pytest.raises(checks.CheckFailed, match="not written yet") as failure:
        checks.check_00_publish(publish)
    assert "Hint: replace the `raise NotImplementedError()`" in str(failure.value)


def test_an_async_function_is_told_the_check_cannot_await_it():
    async def publish(base_url, text):
        return good_publish(base_url, text)

    with pytest.raises(checks.CheckFailed, match="`async def` function"):
        checks.check_00_publish(publish)


def test_ipython_shows_a_failed_check_as_its_message_alone():
    lines = checks.fail("00.1", "what went wrong", "what to try")._render_traceback_()
    assert "what went wrong" in lines[0] and lines[1] == "Hint: what to try"


def good_conditional_get(client, url, etag):
    response = client.get(url, headers={"If-None-Match": etag} if etag else {})
    if response.status_code == 304:
        return 304, None, etag
    return 200, response.json(), response.headers["ETag"]


def never_conditional(client, url, etag):
    response = client.get(url)
    return response.status_code, response.json(), response.headers["ETag"]


def parses_every_body(client, url, etag):
    response = client.get(url, headers={"If-None-Match": etag} if etag else {})
    return response.status_code, response.json(), response.headers["ETag"]


@pytest.mark.parametrize(
    ("conditional_get", "says"),
    [
        (never_conditional, "the request carried If-None-Match: None"),
        (parses_every_body, "raised JSONDecodeError"),
        (lambda client, url, etag: client.get(url).json(), "expected a tuple"),
        (
            lambda client, url, etag: good_conditional_get(client, url, etag)[:2] + ("x",),
            "the server's ETag header was",
        ),
    ],
)
def test_a_wrong_conditional_get_gets_a_message_naming_the_mistake(conditional_get, says):
    with pytest.raises(checks.CheckFailed, match="exercise 01.1") as failure:
        checks.check_01_conditional_get(conditional_get)
    assert says in str(failure.value)


def test_a_right_conditional_get_passes(capsys):
    checks.check_01_conditional_get(good_conditional_get)
    assert "✔ exercise 01.1" in capsys.readouterr().out


def counting_poller(send_etag=True, count_bytes=True):
    def poll_and_count(client, url, polls):
        etag, body, counts = None, 0, {"requests": 0, "not_modified": 0, "bytes_saved": 0}
        for _ in range(polls):
            response = client.get(url, headers={"If-None-Match": etag} if etag else {})
            counts["requests"] += 1
            if response.status_code == 304:
                counts["not_modified"] += 1
                counts["bytes_saved"] += body if count_bytes else 0
            else:
                body = len(response.content)
                etag = response.headers["ETag"] if send_etag else None
        return counts

    return poll_and_count


@pytest.mark.parametrize(
    ("poll_and_count", "says"),
    [
        (counting_poller(send_etag=False), "expected none on the first request and the ETag"),
        (counting_poller(count_bytes=False), "each 304 saved the"),
    ],
)
def test_a_wrong_poll_and_count_gets_a_message_naming_the_mistake(poll_and_count, says):
    with pytest.raises(checks.CheckFailed, match="exercise 01.2") as failure:
        checks.check_01_poll_and_count(poll_and_count)
    assert says in str(failure.value)


def test_a_right_poll_and_count_passes(capsys):
    checks.check_01_poll_and_count(counting_poller())
    assert "✔ exercise 01.2" in capsys.readouterr().out


async def handler_answering_200_when_empty(request):
    from aiohttp import web

    from servers.feed import FEED

    posts = await request.app[FEED].wait_for_posts(
        int(request.query["since"]), float(request.query.get("timeout", 25))
    )
    return web.json_response(posts)


async def handler_ignoring_its_timeout(request):
    from aiohttp import web

    from servers.feed import FEED

    posts = await request.app[FEED].wait_for_posts(int(request.query["since"]), 0)
    return web.json_response(posts) if posts else web.Response(status=204)


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (handler_answering_200_when_empty, "answer 204 No Content"),
        (handler_ignoring_its_timeout, "the answer came before the 0.2 s were up"),
        (lambda request: None, "must be an `async def` function"),
    ],
)
def test_a_wrong_long_poll_handler_gets_a_message_naming_the_mistake(handler, says):
    with pytest.raises(checks.CheckFailed, match="exercise 02.1") as failure:
        checks.check_02_handler(handler)
    assert says in str(failure.value)


def follow_forgetting_since(base_url, since, count):
    received = []
    while len(received) < count:
        response = httpx.get(base_url + "/posts/wait", params={"since": since}, timeout=35)
        if response.status_code == 200:
            received += response.json()
    return received[:count]


def follow_by_short_polling(base_url, since, count):
    received = []
    while len(received) < count:
        posts = httpx.get(base_url + "/posts", params={"since": since}).json()
        received += posts
        since = posts[-1]["id"] if posts else since
    return received[:count]


@pytest.mark.parametrize(
    ("follow", "says"),
    [
        (follow_forgetting_since, "set since to the id of the last post"),
        (follow_by_short_polling, "a long-polling client asks /posts/wait only"),
    ],
)
def test_a_wrong_follow_gets_a_message_naming_the_mistake(follow, says):
    with pytest.raises(checks.CheckFailed, match="exercise 02.2") as failure:
        checks.check_02_follow(follow)
    assert says in str(failure.value)


async def handler_that_sleeps_instead_of_waiting(request):
    import asyncio

    from aiohttp import web

    from servers.feed import FEED

    timeout = float(request.query.get("timeout", 25))
    await asyncio.sleep(timeout)
    posts = request.app[FEED].since(int(request.query.get("since", 0)))
    return web.json_response(posts) if posts else web.Response(status=204)


def test_a_handler_that_cannot_be_woken_is_told_so():
    with pytest.raises(checks.CheckFailed, match="not woken by the post"):
        checks.check_02_handler(handler_that_sleeps_instead_of_waiting)


def follow_without_a_timeout(base_url, since, count):
    received = []
    while len(received) < count:
        response = httpx.get(base_url + "/posts/wait", params={"since": since})
        if response.status_code == 200:
            received += response.json()
            since = received[-1]["id"]
    return received[:count]


def test_a_follow_that_sends_no_timeout_is_told_about_httpx_default():
    with pytest.raises(checks.CheckFailed, match="no timeout= parameter"):
        checks.check_02_follow(follow_without_a_timeout)


def test_parsing_the_body_of_a_304_gets_a_pointed_hint():
    def conditional_get(client, url, etag):
        response = client.get(url, headers={"If-None-Match": etag} if etag else {})
        return response.status_code, response.json(), response.headers["ETag"]

    with pytest.raises(checks.CheckFailed, match="A 204 or 304 answer has no body"):
        checks.check_01_conditional_get(conditional_get)


def test_raise_for_status_on_a_304_gets_a_pointed_hint():
    def conditional_get(client, url, etag):
        response = client.get(url, headers={"If-None-Match": etag} if etag else {})
        response.raise_for_status()
        return 200, response.json(), response.headers["ETag"]

    with pytest.raises(checks.CheckFailed, match="raises on every 3xx status too, 304"):
        checks.check_01_conditional_get(conditional_get)


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
