"""Checks for exercise 11: a bounded broadcaster that keeps fast clients fast (lesson 11).

The learner writes ``Broadcaster(limit)``: ``subscribe(client)``, ``unsubscribe(client)`` and
``publish(message)``, a queue of at most ``limit`` posts per client and a task per client that
sends them; a client whose queue is full is dropped, told with close code 4008 (TOO_SLOW). The
check serves it live (``lab.checks.stalled``) to ten fast clients and one that stops reading,
runs the scenario of ``lab.checks.l11_run`` and names what goes wrong with
``lab.checks.l11_mistakes``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from lab.checks.core import expect, passed, quiet_server_log, short
from lab.checks.l11_mistakes import EXERCISE, LIMIT, TOO_SLOW, Symptom, crashed, mistake
from lab.checks.l11_run import FAST, Run
from lab.checks.stalled import Stage
from servers import runtime, serve
from servers.timing import scaled


def check_11_broadcaster(broadcaster_class: Any) -> None:
    """Exercise 11.1: ten fast clients and one that stops reading; every post reaches every fast
    client at once and in order, the stalled one is dropped once ``limit`` posts wait for it,
    told with close code 4008, and nothing of it is left running; clients that leave are
    forgotten, task and queue."""
    expect(
        inspect.isclass(broadcaster_class),
        EXERCISE,
        "pass the class itself, check_11_broadcaster(Broadcaster); got "
        f"{short(broadcaster_class)}.",
    )
    for method in ("subscribe", "unsubscribe", "publish"):
        expect(
            callable(getattr(broadcaster_class, method, None)),
            EXERCISE,
            f"Broadcaster has no method {method}(...).",
            "keep the methods of the exercise: subscribe, unsubscribe and publish.",
        )
    before = runtime.run(_tasks(), timeout=scaled(5))
    run = None
    try:
        run = Run(Stage(runtime.run(_make(broadcaster_class), timeout=scaled(5))))
        with quiet_server_log(), serve(run.stage.app, name="check-11") as server:
            run.url = f"ws://{server.host}:{server.port}/ws"
            runtime.run(run.play(), timeout=scaled(60))
    except Symptom as symptom:
        raise mistake(symptom) from None
    finally:
        learners = run.learner_tasks() if run else []
        runtime.run(_cancel_left_over(before, learners), timeout=scaled(10))
    passed(
        EXERCISE,
        f"{FAST} fast clients got all {run.number} posts, in order, each within "
        f"{run.slowest * 1000:.0f} ms, while one client read nothing; it was dropped once "
        f"{LIMIT} posts waited for it, told with close code {TOO_SLOW}, and its task ended; "
        "clients that left were forgotten.",
    )


async def _tasks() -> set[asyncio.Task]:
    return asyncio.all_tasks()


async def _make(broadcaster_class):
    try:
        return broadcaster_class(limit=LIMIT)
    except Exception as error:
        raise crashed(error, "Broadcaster") from None


async def _cancel_left_over(before: set[asyncio.Task], learners: list[asyncio.Task]) -> None:
    """Cancel what the learner's code left running, so a failed check leaves nothing behind,
    and collect what its tasks raised (none then goes to the log as never retrieved)."""
    await asyncio.sleep(0.05)  # a task that a reset or a cancelled handler ends, ends
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in left:
        task.cancel()
    await asyncio.gather(*left, *learners, return_exceptions=True)


__all__ = ["check_11_broadcaster"]
