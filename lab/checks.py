"""Exercise checks that say what is wrong and how to fix it (introduced in lesson 00).

A check cell calls one ``check_*`` function with the learner's code. It either prints what
passed or raises ``CheckFailed`` whose message names the exercise, what was expected, what
happened and a hint, rather than a bare ``AssertionError``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any


class CheckFailed(AssertionError):
    """An exercise check that did not pass; the message explains why and hints at the fix."""


def fail(exercise: str, problem: str, hint: str | None = None) -> CheckFailed:
    """Build the error a check raises: which exercise, what is wrong, what to try."""
    message = f"[exercise {exercise}] {problem}"
    if hint:
        message += f"\nHint: {hint}"
    return CheckFailed(message)


def expect(condition: bool, exercise: str, problem: str, hint: str | None = None) -> None:
    """Raise ``CheckFailed`` unless ``condition`` holds."""
    if not condition:
        raise fail(exercise, problem, hint)


def call(exercise: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function, turning "not written yet" and crashes into clear failures."""
    name = getattr(function, "__name__", repr(function))
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise fail(
            exercise,
            f"{name}() is not written yet: it still raises NotImplementedError.",
            "replace the `raise NotImplementedError()` line with your code, run that cell, "
            "then run this check again.",
        ) from None
    except CheckFailed:
        raise
    except Exception as error:
        detail = _response_detail(error)
        frames = traceback.extract_tb(error.__traceback__)
        where = frames[1] if len(frames) > 1 else frames[-1]  # [0] is this function's own frame
        raise fail(
            exercise,
            f"{name}{_show_args(args)} raised {type(error).__name__}: {error}\n"
            f"at line {where.lineno} of {name}: {where.line}{detail}",
            "read the error above; the cell that defines the function is the place to fix it.",
        ) from None


def passed(exercise: str, what: str) -> None:
    """Tell the learner what the check confirmed."""
    print(f"✔ exercise {exercise}: {what}")


def _show_args(args: tuple) -> str:
    shown = ", ".join(repr(a) if len(repr(a)) < 40 else "…" for a in args)
    return f"({shown})"


def _response_detail(error: Exception) -> str:
    response = getattr(error, "response", None)
    try:
        said = response.json()["error"]
    except Exception:
        said = getattr(response, "text", None)
    return f"\nThe server answered: {said}" if isinstance(said, str) and said else ""


# --- lesson 00 ------------------------------------------------------------------------------


def check_00_publish(publish: Callable[[str, str], Any]) -> None:
    """Exercise 00.1: ``publish(base_url, text)`` POSTs a post and returns it as a dict."""
    from servers import serve
    from servers.feed import Feed, make_app

    feed = Feed()
    with serve(make_app(feed), name="check-00") as server:
        post = call("00.1", publish, server.url, "first post")
        expect(
            len(feed) == 1,
            "00.1",
            f"the server holds {len(feed)} posts after one call to publish(); expected 1.",
            'send a POST to base_url + "/posts" with a JSON body: httpx.post(url, json={...}).',
        )
        expect(
            not hasattr(post, "status_code"),
            "00.1",
            "publish() returned the HTTP response itself, not the post.",
            "return response.json(), the post the server sent back.",
        )
        expect(
            isinstance(post, dict) and set(post) >= {"id", "text", "ts"},
            "00.1",
            f"publish() returned {post!r}; expected the post, a dict with id, text and ts.",
            "return response.json().",
        )
        expect(
            post["text"] == "first post" and post["id"] == feed.last_id,
            "00.1",
            f"publish() returned {post!r}, but the server stored {feed.since(0)!r}.",
            "send the text you were given and return what the server answered.",
        )
        call("00.1", publish, server.url, "second post")
        expect(
            [p["text"] for p in feed.since(0)] == ["first post", "second post"],
            "00.1",
            f"after two calls the server holds {feed.since(0)!r}.",
        )
    passed("00.1", "publish() stored each post once and returned it.")


def check_00_new_texts(new_texts: Callable[[str, int], Any]) -> None:
    """Exercise 00.2: ``new_texts(base_url, since)`` returns the texts of posts after ``since``."""
    from servers import serve
    from servers.feed import Feed, make_app

    feed = Feed()
    first = feed.publish("alpha")
    feed.publish("beta")
    feed.publish("gamma")
    with serve(make_app(feed), name="check-00") as server:
        texts = call("00.2", new_texts, server.url, first["id"])
        expect(
            isinstance(texts, list),
            "00.2",
            f"new_texts() returned {type(texts).__name__} {texts!r}; expected a list of strings.",
            "build a list: [post['text'] for post in response.json()].",
        )
        expect(
            all(isinstance(t, str) for t in texts),
            "00.2",
            f"new_texts() returned {texts!r}: the items should be the texts, not whole posts.",
            "take post['text'] from each post.",
        )
        expect(
            texts == ["beta", "gamma"],
            "00.2",
            f"new_texts(url, {first['id']}) returned {texts!r}; expected ['beta', 'gamma'] "
            f"(the posts after id {first['id']}, oldest first).",
            'pass the id as the "since" query parameter: params={"since": since}.',
        )
        empty = call("00.2", new_texts, server.url, feed.last_id)
        expect(
            empty == [],
            "00.2",
            f"new_texts(url, {feed.last_id}) returned {empty!r}; nothing is newer than the "
            "last post, so expected [].",
        )
    passed("00.2", "new_texts() returned exactly the newer posts, oldest first.")
