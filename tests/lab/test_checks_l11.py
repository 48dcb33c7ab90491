"""Exercise 11's check: a right bounded broadcaster passes, each typical mistake is named.

Each wrong broadcaster below is the right one with the one method a learner got wrong."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import time

import pytest
from checks_support import assert_named, assert_passes, failure_of

from lab import checks
from lab.checks import l11_run, stalled
from servers import runtime, serve

TOO_SLOW = 4008


class Right:
    """The exercise's solution: a bounded queue and a task per client, drop and tell."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self.queues: dict = {}
        self.tasks: dict = {}

    def subscribe(self, client) -> None:
        queue = self.new_queue()
        self.queues[client] = queue
        self.tasks[client] = asyncio.create_task(self._write(client, queue))

    def new_queue(self) -> asyncio.Queue:
        return asyncio.Queue(maxsize=self.limit)

    def unsubscribe(self, client) -> None:
        self.queues.pop(client, None)
        self.cancel(client)

    def cancel(self, client) -> None:
        task = self.tasks.pop(client, None)
        if task is not None:
            task.cancel()

    def publish(self, message: str) -> None:
        for client, queue in list(self.queues.items()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.drop(client)

    def drop(self, client) -> None:
        self.unsubscribe(client)
        client.close(TOO_SLOW, "too slow")

    async def _write(self, client, queue) -> None:
        while True:
            message = await queue.get()
            await client.send(message)


class WithADeque(Right):
    """Right too: a deque and an Event per client instead of an asyncio.Queue."""

    def subscribe(self, client) -> None:
        self.queues[client] = (collections.deque(), asyncio.Event())
        self.tasks[client] = asyncio.create_task(self._write(client, self.queues[client]))

    def publish(self, message: str) -> None:
        for client, (posts, ready) in list(self.queues.items()):
            if len(posts) == self.limit:
                self.drop(client)
                continue
            posts.append(message)
            ready.set()

    async def _write(self, client, queue) -> None:
        posts, ready = queue
        while True:
            await ready.wait()
            while posts:
                await client.send(posts.popleft())
            ready.clear()


class OneAfterAnother(Right):
    async def publish(self, message: str) -> None:
        for client in list(self.queues):
            await client.send(message)


class Gathered(Right):
    async def publish(self, message: str) -> None:
        await asyncio.gather(*(client.send(message) for client in list(self.queues)))


class OneSenderTask(Right):
    """One shared queue and one task that sends each post to every client in turn."""

    def subscribe(self, client) -> None:
        self.queues[client] = None
        if not self.tasks:
            self.shared = asyncio.Queue()
            self.tasks[None] = asyncio.create_task(self._send_all())

    def unsubscribe(self, client) -> None:
        self.queues.pop(client, None)

    def publish(self, message: str) -> None:
        self.shared.put_nowait(message)

    async def _send_all(self) -> None:
        while True:
            message = await self.shared.get()
            for client in list(self.queues):
                await client.send(message)


class TimeoutPerSend(Right):
    async def publish(self, message: str) -> None:
        for client in list(self.queues):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.send(message), 0.5)


class Unbounded(Right):
    def new_queue(self) -> asyncio.Queue:
        return asyncio.Queue()  # no maxsize: it never fills


class UnboundedOnABusyMachine(Unbounded):
    """Unbounded, on a machine that holds up one post while the stalled client is stuck (as a
    busy CI does): one late post is not a broadcaster that waits, it is still unbounded."""

    def publish(self, message: str) -> None:
        if message.startswith("post 60\n"):
            time.sleep(0.3)  # the whole event loop, every client: the machine, not the code
        super().publish(message)


class BlockingPut(Right):
    async def publish(self, message: str) -> None:
        for queue in list(self.queues.values()):
            await queue.put(message)


class TaskPerPost(Right):
    def publish(self, message: str) -> None:
        for client in list(self.queues):
            asyncio.create_task(client.send(message))


class LetsQueueFullOut(Right):
    def publish(self, message: str) -> None:
        for queue in list(self.queues.values()):
            queue.put_nowait(message)


class DiscardsWhenFull(Right):
    def publish(self, message: str) -> None:
        for queue in list(self.queues.values()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)


class DropsOldest(Right):
    def publish(self, message: str) -> None:
        for queue in list(self.queues.values()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)


class DropsSilently(Right):
    def drop(self, client) -> None:
        self.unsubscribe(client)


class ClosesNormally(Right):
    def drop(self, client) -> None:
        self.unsubscribe(client)
        client.close(1000, "")


class LeavesTheTask(Right):
    def drop(self, client) -> None:
        self.queues.pop(client)
        client.close(TOO_SLOW, "too slow")


class UnsubscribeKeepsTheTask(Right):
    def unsubscribe(self, client) -> None:
        self.queues.pop(client, None)

    def drop(self, client) -> None:
        self.tasks.pop(client).cancel()
        self.unsubscribe(client)
        client.close(TOO_SLOW, "too slow")


class UnsubscribeKeepsTheQueue(Right):
    def unsubscribe(self, client) -> None:
        self.cancel(client)

    def drop(self, client) -> None:
        self.unsubscribe(client)
        self.queues.pop(client)
        client.close(TOO_SLOW, "too slow")


class KeepsTheDropped(Right):
    def drop(self, client) -> None:
        self.cancel(client)
        client.close(TOO_SLOW, "too slow")


class DeletesTwice(Right):
    def unsubscribe(self, client) -> None:
        del self.queues[client]
        self.tasks.pop(client).cancel()


class OverTheDict(Right):
    def publish(self, message: str) -> None:
        for client, queue in self.queues.items():
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.drop(client)


class BoundOneShort(Right):
    def new_queue(self) -> asyncio.Queue:
        return asyncio.Queue(maxsize=self.limit - 1)


class BoundOneOver(Unbounded):
    def publish(self, message: str) -> None:
        for client, queue in list(self.queues.items()):
            if queue.qsize() > self.limit:
                self.drop(client)
            else:
                queue.put_nowait(message)


class StopsAtTheDrop(Right):
    def publish(self, message: str) -> None:
        for client in list(self.queues):
            if self.queues[client].full():
                self.drop(client)
                return  # the clients after it never get this post
            self.queues[client].put_nowait(message)


class LastInFirstOut(Right):
    def new_queue(self) -> asyncio.Queue:
        return asyncio.LifoQueue(maxsize=self.limit)


class OnlyTheLatest(Right):
    async def _write(self, client, queue) -> None:
        while True:
            message = await queue.get()
            while not queue.empty():
                message = queue.get_nowait()
            await client.send(message)


class AwaitsTheClose(Right):
    async def publish(self, message: str) -> None:
        for client, queue in list(self.queues.items()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.unsubscribe(client)
                await client.close(TOO_SLOW, "too slow")


class AsyncSubscribe(Right):
    async def subscribe(self, client) -> None:
        Right.subscribe(self, client)


class WrapsTheMessage(Right):
    async def _write(self, client, queue) -> None:
        while True:
            message = await queue.get()
            await client.send(json.dumps({"post": message}))


class NeverSends(Right):
    def subscribe(self, client) -> None:
        self.queues[client] = asyncio.Queue(maxsize=self.limit)


class NonBlockingButAsync(Right):
    """Right too: an `async def` publish that awaits nothing a client can hold up."""

    async def publish(self, message: str) -> None:
        Right.publish(self, message)


class BreaksOnAPost(Right):
    async def _write(self, client, queue) -> None:
        while True:
            message = await queue.get()
            if message.startswith("post 12\n"):
                raise ValueError("cannot send post 12")
            await client.send(message)


class SendsForEver(Right):
    async def _write(self, client, queue) -> None:
        message = await queue.get()
        while True:
            await client.send(message)


class NotWritten:
    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        raise NotImplementedError()

    def subscribe(self, client): ...
    def unsubscribe(self, client): ...
    def publish(self, message): ...


@pytest.mark.parametrize(
    "broadcaster", [Right, WithADeque, NonBlockingButAsync], ids=["queues", "deques", "async"]
)
def test_a_right_broadcaster_passes(broadcaster, capsys):
    assert_passes(checks.check_11_broadcaster, broadcaster, exercise="11.1", capsys=capsys)


@pytest.mark.parametrize(
    ("broadcaster", "says"),
    [
        (OneAfterAnother, "awaits the clients one after another"),
        (OneSenderTask, "awaits the clients one after another"),
        (TimeoutPerSend, "A timeout on each send still makes everyone wait"),
        (Gathered, "publish waited for the stalled client"),
        (BlockingPut, "awaits the clients one after another"),
        (Unbounded, "a queue without a bound"),
        (UnboundedOnABusyMachine, "a queue without a bound"),
        (TaskPerPost, "a task per post and per client"),
        (LetsQueueFullOut, "publish raised asyncio.QueueFull"),
        (DiscardsWhenFull, "missing in between, and no close frame"),
        (DropsOldest, "missing in between, and no close frame"),
        (DropsSilently, "dropped without a word"),
        (ClosesNormally, "closed with code 1000"),
        (LeavesTheTask, "the task subscribe started for it is still running"),
        (UnsubscribeKeepsTheTask, "tasks subscribe started for them are still running"),
        (UnsubscribeKeepsTheQueue, "unsubscribe left it in the broadcaster"),
        (KeepsTheDropped, "publish dropped it again"),
        (DeletesTwice, "after publish had already dropped (and unsubscribed) it"),
        (OverTheDict, "changes the dict the loop goes over"),
        (BoundOneShort, "with 7 post(s) waiting for it (during a burst of 8 posts at once)"),
        (BoundOneOver, "with 9 posts waiting for it"),
        (StopsAtTheDrop, "publish stopped there instead of going on"),
        (LastInFirstOut, "received the posts in the order"),
        (OnlyTheLatest, "never received post(s)"),
        (AwaitsTheClose, "there is nothing to await"),
        (AsyncSubscribe, "`subscribe(client)` is an `async def` function"),
        (WrapsTheMessage, "which is not a post as published"),
        (NeverSends, "nothing sent it to them"),
        (BreaksOnAPost, "_write raised ValueError: cannot send post 12"),
        (SendsForEver, "received post(s) 1 more than once"),
    ],
)
def test_each_typical_mistake_gets_a_message_naming_it(broadcaster, says):
    assert_named(checks.check_11_broadcaster, broadcaster, exercise="11.1", says=says, hint=True)


def test_a_task_left_running_is_shown_where_it_waits():
    message = failure_of(checks.check_11_broadcaster, LeavesTheTask, match="still running")
    assert "await client.send(message)" in message, message


def test_an_unwritten_broadcaster_is_not_written_yet():
    message = failure_of(checks.check_11_broadcaster, NotWritten, match="not written yet")
    assert "Hint:" in message


def test_an_instance_is_told_to_pass_the_class():
    failure_of(checks.check_11_broadcaster, Right(), match="pass the class itself")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_check_leaves_no_server_no_task_and_no_socket_behind():
    checks.check_11_broadcaster(Right)
    before = open_files()
    for wrong in (LeavesTheTask, OneAfterAnother, Unbounded, DeletesTwice):
        with contextlib.suppress(checks.CheckFailed):
            checks.check_11_broadcaster(wrong)
    checks.check_11_broadcaster(Right)
    assert not [s for s in runtime.running_servers() if s.name and "check-11" in s.name]
    assert runtime.pending_tasks() == []
    assert open_files() <= before


def test_the_stalled_client_is_dropped_once_the_limit_is_full_well_before_the_check_gives_up():
    """What the right solution's run rests on: the stalled send got stuck (its buffers
    shrunk, so after a few hundred KiB, not MiB), then ``LIMIT`` posts waited, then the drop;
    all in less than half the posts after which the check calls a queue unbounded."""
    stage_seen = {}
    original = l11_run.Run._after_the_drop

    async def spy(self):
        client = self.stage.clients[l11_run.STALLED]
        stage_seen.update(started=client.started, drop=client.closes[0][2])
        await original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(l11_run.Run, "_after_the_drop", spy)
        checks.check_11_broadcaster(Right)
    assert stage_seen["drop"] == stage_seen["started"] + l11_run.LIMIT + 1
    assert stage_seen["started"] * l11_run.POST_SIZE < l11_run.MOST * l11_run.POST_SIZE / 2


def test_a_dropped_client_that_never_reads_again_is_cut_off_after_the_grace(monkeypatch):
    """``Client.close``: the close frame waits behind a full buffer; a client that does not
    take it within ``CLOSE_GRACE`` loses its connection, and its handler ends."""
    monkeypatch.setattr(stalled, "CLOSE_GRACE", 0.2)
    stage = stalled.Stage(Right(limit=1))

    async def scenario(url):
        reader = await stalled.Reader.connect(url, stalled.STALLED, stalled=True)
        try:
            assert await stalled.until(lambda: stalled.STALLED in stage.clients)
            client = stage.clients[stalled.STALLED]
            for number in range(1, 100):
                client.published = number
                stage.broadcaster.publish(stalled.make_post(number))
                if await stalled.until(lambda: bool(client.closes), 0.05):
                    break
            assert client.closes, "never dropped"
            assert await stalled.until(lambda: client.left, 5.0), "its connection was kept"
        finally:
            await reader.abort()
            await stage.release()

    with serve(stage.app, name="test-check-11-grace") as server:
        runtime.run(scenario(f"ws://{server.host}:{server.port}/ws"), timeout=30)
