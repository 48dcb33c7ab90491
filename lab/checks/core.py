"""The parts every exercise check is made of (introduced in lesson 00).

A check cell calls one ``check_*`` function with the learner's code. It either prints what
passed or raises ``CheckFailed`` whose message names the exercise, what was expected, what
happened and a hint, rather than a bare ``AssertionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sysconfig
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
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
        where = "\n" + learner_line(error, name) if learner_frame(error) else ""
        raise fail(
            exercise,
            f"{name}{_show_args(args)} raised {type(error).__name__}: {error}{where}{detail}",
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


_NOT_THE_LEARNERS = tuple(
    str(path)
    for path in {
        Path(sysconfig.get_paths()["stdlib"]).resolve(),
        Path(sysconfig.get_paths()["purelib"]).resolve(),
        Path(sysconfig.get_paths()["platlib"]).resolve(),
        Path(__file__).resolve().parents[1],  # lab/
        Path(__file__).resolve().parents[2] / "servers",
    }
)


def learner_frame(error: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of ``error``'s traceback in the learner's own code: not the standard
    library, an installed package (aiohttp, httpx), nor the course's ``lab/`` and ``servers/``."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        filename = frame.filename or ""
        if filename.startswith("<frozen ") or "-packages" in filename:
            continue
        if not str(Path(filename).resolve()).startswith(_NOT_THE_LEARNERS):
            return frame
    return None


def learner_line(error: BaseException, name: str) -> str:
    """``"at line N of NAME: <code>"`` for the learner's frame in ``error``'s traceback (in
    the cell that defines ``name``), or ``""`` when the error never passed through their code."""
    frame = learner_frame(error)
    if frame is None:
        return ""
    return f"at line {frame.lineno} of {name}: {(frame.line or '').strip()}"


def require_async(exercise: str, function: Any, signature: str, why: str) -> None:
    """``CheckFailed`` unless ``function`` is an ``async def`` function; ``why`` is the hint."""
    expect(
        inspect.iscoroutinefunction(function),
        exercise,
        f"`{signature}` must be an `async def` function.",
        why,
    )


class NoResponse(Exception):
    """A handler returned something that is not a response: usually a forgotten ``return``."""

    def __init__(self, returned: Any) -> None:
        super().__init__(returned)
        self.returned = returned


class Crashes(list):
    """The exceptions the learner's code raised while a check ran it inside a server or a task
    (where the traceback would otherwise end in a log line), collected for the check to explain."""

    def __init__(self) -> None:
        super().__init__()
        self.running: list[web.Request] = []
        """The requests a ``guard_handler`` handler is serving right now."""

    def guard(
        self, function: Callable[..., Awaitable[Any]], *, letting: tuple = ()
    ) -> Callable[..., Awaitable[Any]]:
        """``function`` wrapped to record what it raises (except cancellation and ``letting``)."""

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await function(*args, **kwargs)
            except (asyncio.CancelledError, *letting):
                raise
            except Exception as error:
                self.append(error)
                raise

        guarded.__name__ = getattr(function, "__name__", "guarded")
        return guarded

    def guard_handler(self, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable]:
        """An aiohttp handler ``guard``ed, which also records a ``NoResponse`` and keeps
        ``running`` up to date."""
        learner = self.guard(handler)

        async def guarded(request: web.Request) -> Any:
            self.running.append(request)
            try:
                response = await learner(request)
            finally:
                self.running.remove(request)
            if not isinstance(response, web.StreamResponse):
                self.append(NoResponse(response))
            return response

        return guarded

    def failure(
        self,
        exercise: str,
        name: str,
        hint: str,
        *,
        error: BaseException | None = None,
        before: str = "",
    ) -> CheckFailed:
        """The failure naming ``error`` (the first crash unless given): its type, message and
        the learner's line, or a ``NoResponse`` as a forgotten ``return``."""
        error = self[0] if error is None else error
        if isinstance(error, NoResponse):
            return fail(
                exercise,
                f"{before}{name} returned {short(error.returned)} instead of a response.",
                "end the handler with `return` and its response (web.json_response(...)).",
            )
        where = learner_line(error, name)
        return fail(
            exercise,
            f"{before}{name} raised {type(error).__name__}: {error}"
            f"{' (' + where + ')' if where else ''}.",
            hint,
        )

    def raise_first(self, exercise: str, name: str, hint: str) -> None:
        """``CheckFailed`` naming the first crash, its type, message and the learner's line."""
        if self:
            raise self.failure(exercise, name, hint)


@contextlib.contextmanager
def quiet_server_log() -> Iterator[None]:
    """aiohttp logs a handler's exception with its traceback; a check that collects the
    learner's ``Crashes`` explains them itself instead."""
    logger = logging.getLogger("aiohttp.server")
    saved = logger.propagate, logger.handlers[:]
    logger.propagate, logger.handlers = False, [logging.NullHandler()]
    try:
        yield
    finally:
        logger.propagate, logger.handlers = saved


def not_written(exercise: str, name: str) -> CheckFailed:
    """The failure for a function that still raises NotImplementedError."""
    return fail(
        exercise,
        f"{name}() is not written yet: it still raises NotImplementedError.",
        "replace the `raise NotImplementedError()` line with your code, run that cell, "
        "then run this check again.",
    )


def probe(exercise: str, function: Callable[..., Any], *args: Any, timeout: float = 0.5) -> None:
    """Run the learner's async function briefly, to tell "not written yet" apart from every
    other fault (which the check's real scenario then explains)."""

    async def attempt() -> None:
        try:
            await asyncio.wait_for(function(*args), timeout)
        except NotImplementedError:
            raise not_written(exercise, function.__name__) from None
        except (Exception, TimeoutError):
            pass  # a fake request cannot stream, a probe cannot wait: the scenario says more

    runtime.run(attempt(), timeout=timeout + 5)


def probe_handler(exercise: str, handler: Callable[..., Any], app, path: str) -> None:
    """Call an aiohttp handler once on a fake ``GET path`` (``probe`` for handlers)."""
    probe(exercise, handler, make_mocked_request("GET", path, app=app))


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
