"""The widget messages of one process, written in shared transactions under load.

Every message costs a commit (a disk flush) and after-commit work (KPI marks, media
and survey lookups). Written one transaction each, a busy process spends most of
its database time on those, and its thread pool falls behind: messages queue for
seconds. Here, a message goes to the database at once while fewer than WRITERS
writes are in flight; otherwise it waits for one to finish, and all that waited go
together in one transaction (widget.actions.record_visitor_messages). An idle
process writes each message alone, as before; a busy one flushes once per batch.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings

from widget.actions import Acked, VisitorMessage, record_visitor_messages

# Writes in flight per process, each on a thread of its own (so a busy chat never
# takes the threads hello and history need) holding a database connection (the
# pool's default size is 10) until its batch committed. A message is a chain of
# round trips to PostgreSQL, so parallel writers are what throughput is made of.
WRITERS = 6
# Messages per transaction at most. Written one after the other in it, so this
# bounds how long the first waits for the last, and how long their contacts and
# conversations stay locked. Only a backlog fills a batch, and then every message
# matters: a batch's own work (its four lookups, the commit, the rate-limit, KPI,
# media and survey round trips after it) cost about as much CPU as its ten messages'
# INSERTs and UPDATEs did at 10 (chat_load, py-spy); at 25 it is shared by 2.5 times
# as many.
MAX_BATCH = 25


class Recorder:
    def __init__(self) -> None:
        self.waiting: deque[tuple[VisitorMessage, asyncio.Future[Acked | Exception]]] = deque()
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def record(self, message: VisitorMessage) -> Acked:
        """Store the message; raise what storing it raised (ActionError: refused)."""
        future: asyncio.Future[Acked | Exception] = asyncio.get_running_loop().create_future()
        self.waiting.append((message, future))
        self._start_writers()
        # Shielded: a socket closing meanwhile does not take its message out of a
        # batch that is being written.
        result = await asyncio.shield(future)
        if isinstance(result, Exception):
            raise result
        return result

    def _start_writers(self) -> None:
        while self.waiting and self.in_flight < WRITERS:
            count = min(len(self.waiting), MAX_BATCH)
            batch = [self.waiting.popleft() for _ in range(count)]
            self.in_flight += 1
            task = asyncio.ensure_future(self._write(batch))
            self.tasks.add(task)  # a reference, so the task is not collected mid-write
            task.add_done_callback(self.tasks.discard)

    async def _write(
        self, batch: list[tuple[VisitorMessage, asyncio.Future[Acked | Exception]]]
    ) -> None:
        if settings.WIDGET_DB_THREAD_SENSITIVE:  # tests: on their own connection
            write = database_sync_to_async(record_visitor_messages)
        else:
            write = database_sync_to_async(
                record_visitor_messages, thread_sensitive=False, executor=_writers()
            )
        try:
            results: list[Acked | Exception] = await write([message for message, _ in batch])
        except Exception as exc:  # noqa: BLE001 - e.g. Redis down: every message hears it
            results = [exc] * len(batch)
        finally:
            self.in_flight -= 1
        for (_message, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        self._start_writers()


@functools.cache
def _writers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="widget-writer")


_recorders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Recorder] = (
    weakref.WeakKeyDictionary()
)


def for_this_loop() -> Recorder:
    """The process's recorder (one per event loop: tests run several loops)."""
    loop = asyncio.get_running_loop()
    recorder = _recorders.get(loop)
    if recorder is None:
        recorder = _recorders[loop] = Recorder()
    return recorder
