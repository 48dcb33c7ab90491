"""lab.checks, exercise 00 and the check toolkit: wrong answers get a message naming the
mistake, right ones pass."""

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


def publish_rebuilding_the_post(base_url, text):
    post = httpx.post(base_url + "/posts", json={"text": text}).json()
    return {"id": post["id"], "text": post["text"], "ts": post["ts"]}


def publish_returning_nothing_on_a_refusal(base_url, text):
    response = httpx.post(base_url + "/posts", json={"text": text})
    if response.status_code == 201:
        return response.json()


def publish_asserting_its_status(base_url, text):
    response = httpx.post(base_url + "/posts", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("publish", "says"),
    [
        (publish_rebuilding_the_post, 'of publish: return {"id": post["id"]'),
        (publish_returning_nothing_on_a_refusal, 'publish(url, "") returned None'),
        (publish_asserting_its_status, "raised AssertionError"),
    ],
)
def test_a_publish_that_crashes_or_returns_on_a_refusal_is_not_taken_for_a_refusal(publish, says):
    """The empty post's 400 must surface as raise_for_status()'s HTTPStatusError: another
    exception is a crash in publish(), and returning (even None) hides the refusal."""
    with pytest.raises(checks.CheckFailed, match="exercise 00.1") as failure:
        checks.check_00_publish(publish)
    assert says in str(failure.value)
    assert "Hint: call response.raise_for_status()" in str(failure.value)


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
