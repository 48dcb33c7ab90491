"""Exercise checks that say what is wrong and how to fix it (introduced in lesson 00).

A check cell calls one ``check_*`` function with the learner's code. It either prints what
passed or raises ``CheckFailed`` whose message names the exercise, what was expected, what
happened and a hint, rather than a bare ``AssertionError``.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from typing import Any


class CheckFailed(AssertionError):
    """An exercise check that did not pass; the message explains why and hints at the fix."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message alone, not the checker's own source lines."""
        return [
            f"\033[31mCheckFailed\033[0m: {line}" if i == 0 else line
            for i, line in enumerate(str(self).splitlines())
        ]


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
        result = function(*args, **kwargs)
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
    if inspect.iscoroutine(result):
        result.close()
        raise fail(
            exercise,
            f"{name}() is an `async def` function: calling it only creates a coroutine, which the "
            "check cannot await.",
            "write it as a plain `def` with the blocking client (httpx.get, httpx.post).",
        )
    return result


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
        try:
            refused = publish(server.url, "")
        except Exception:
            refused = None
        expect(
            refused is None,
            "00.1",
            f'publish(url, "") returned {refused!r}, but the server refused that empty post '
            "with a 400: an error should not look like a post.",
            "call response.raise_for_status() before returning, so a 4xx raises.",
        )
    passed("00.1", "publish() stored each post once, returned it, and raised on a refusal.")


def check_00_new_texts(new_texts: Callable[[str, int], Any]) -> None:
    """Exercise 00.2: ``new_texts(base_url, since)`` returns the texts of posts after ``since``."""
    from aiohttp import web

    from servers import serve
    from servers.feed import Feed, make_app

    feed = Feed(history=3)  # ids 3, 4, 5 remain: positions in the list are not ids
    for text in ["gone", "also gone", "alpha", "beta", "gamma"]:
        feed.publish(text)
    asked: list[str | None] = []

    @web.middleware
    async def remember_since(request, handler):
        asked.append(request.query.get("since"))
        return await handler(request)

    app = make_app(feed)
    app.middlewares.append(remember_since)
    with serve(app, name="check-00") as server:
        texts = call("00.2", new_texts, server.url, 3)
        expect(
            isinstance(texts, list),
            "00.2",
            f"new_texts() returned {type(texts).__name__} {texts!r}; expected a list of strings.",
            "build a list: [post['text'] for post in response.json()].",
        )
        expect(
            all(isinstance(t, str) for t in texts),
            "00.2",
            f"new_texts() returned {texts!r}: the items should be the texts, not whole posts "
            "or ids.",
            "take post['text'] from each post.",
        )
        expect(
            "3" in asked,
            "00.2",
            f"the server was asked with since={asked[-1] if asked else None!r}, not since=3: "
            "the server should do the filtering, so a client downloads only what is new.",
            'pass the id as the "since" query parameter: params={"since": since}.',
        )
        expect(
            sorted(texts) != sorted(["beta", "gamma"]) or texts == ["beta", "gamma"],
            "00.2",
            f"new_texts() returned {texts!r}: the right posts, in the wrong order.",
            "keep the server's order: it sends the oldest first.",
        )
        expect(
            texts == ["beta", "gamma"],
            "00.2",
            f"new_texts(url, 3) returned {texts!r}; expected ['beta', 'gamma'], the posts whose "
            "id is greater than 3.",
            "return every post of the answer, not a slice of it: ids are not list positions.",
        )
        empty = call("00.2", new_texts, server.url, feed.last_id)
        expect(
            empty == [],
            "00.2",
            f"new_texts(url, {feed.last_id}) returned {empty!r}; nothing is newer than the "
            "last post, so expected [].",
        )
    passed("00.2", "new_texts() asked the server with since= and returned the newer texts.")
