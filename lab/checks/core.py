"""The parts every exercise check is made of (introduced in lesson 00).

A check cell calls one ``check_*`` function with the learner's code. It either prints what
passed or raises ``CheckFailed`` whose message names the exercise, what was expected, what
happened and a hint, rather than a bare ``AssertionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp.test_utils import make_mocked_request

from lab.recording import record_requests
from servers import Server, runtime, serve
from servers.feed import Feed, make_app


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
        raise not_written(exercise, name) from None
    except CheckFailed:
        raise
    except Exception as error:
        detail = _response_detail(error) + _known_pitfall(error)
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


def not_written(exercise: str, name: str) -> CheckFailed:
    """The failure for a function that still raises NotImplementedError."""
    return fail(
        exercise,
        f"{name}() is not written yet: it still raises NotImplementedError.",
        "replace the `raise NotImplementedError()` line with your code, run that cell, "
        "then run this check again.",
    )


def probe_handler(exercise: str, handler: Callable[..., Any], app, path: str) -> None:
    """Call an aiohttp handler once on a fake ``GET path``, to tell "not written yet" apart
    from every other fault (which the check's real requests then explain)."""
    request = make_mocked_request("GET", path, app=app)
    try:
        runtime.run(asyncio.wait_for(handler(request), 0.5), timeout=5)
    except NotImplementedError:
        raise not_written(exercise, handler.__name__) from None
    except Exception:
        pass  # a fake request cannot stream or serve; the real requests say what is wrong


def passed(exercise: str, what: str) -> None:
    """Tell the learner what the check confirmed."""
    print(f"✔ exercise {exercise}: {what}")


def _show_args(args: tuple) -> str:
    shown = ", ".join(repr(a) if len(repr(a)) < 40 else "…" for a in args)
    return f"({shown})"


def _known_pitfall(error: Exception) -> str:
    """A sentence for mistakes every learner makes once."""
    if isinstance(error, ValueError) and "Expecting value" in str(error):
        return (
            "\nA 204 or 304 answer has no body, so there is no JSON to parse: check "
            "response.status_code before calling response.json()."
        )
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status is not None and 300 <= status < 400:
        return (
            f"\nraise_for_status() raises on every 3xx status too, {status} included: "
            "handle that status before calling it."
        )
    return ""


def short(value: Any, limit: int = 120) -> str:
    """A repr cut to ``limit`` characters, for messages that quote what a function returned."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _response_detail(error: Exception) -> str:
    response = getattr(error, "response", None)
    try:
        said = response.json()["error"]
    except Exception:
        said = getattr(response, "text", None)
    return f"\nThe server answered: {said}" if isinstance(said, str) and said else ""


@contextlib.contextmanager
def recording_feed_server(
    feed: Feed, name: str, **options: Any
) -> Iterator[tuple[Server, list[dict]]]:
    """A feed server that remembers each request (``lab.recording``), for checks to read."""
    app = make_app(feed, **options)
    seen = record_requests(app)
    with serve(app, name=name) as server:
        yield server, seen
