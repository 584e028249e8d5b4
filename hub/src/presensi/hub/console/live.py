"""The live feed: one poller per console process follows the scans the ingest workers commit
(by their arrival time) and hands each new one to every open live page.

Polling the store, not the broker: a page shows only what the hub has committed, on SQLite and
PostgreSQL alike, and the cost is one indexed query every `interval_s` whatever the number of
open pages. Each poll looks `lookback_ms` behind the newest arrival it has seen, because several
workers commit in an order that can differ from their arrival times; scans already sent are
remembered (bounded) so none is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from presensi.hub.console.data import ConsoleData, ScanView
from presensi.hub.errors import StoreError

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100  # batches (10 s at the poll interval): a page this far behind is let go
PAGE_ROWS = 200  # a page shows this many rows at most: a bigger batch sends only its newest


@dataclass
class Batch:
    """The scans one poll found, handed to every page; `rendered` keeps each distinct event
    text (per language and filter) so that 200 pages cost one serialisation, not 200."""

    scans: list[ScanView]
    rendered: dict[object, str] = field(default_factory=dict)


_SEEN_LIMIT = 50_000


class Feed:
    def __init__(
        self,
        data: ConsoleData,
        *,
        interval_s: float = 0.2,
        lookback_ms: int = 5000,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._data = data
        self._interval_s = interval_s
        self._lookback_ms = lookback_ms
        self._now_ms = now_ms
        self._subscribers: set[asyncio.Queue[Batch | None]] = set()
        self._seen: OrderedDict[tuple[str, str, int, int], None] = OrderedDict()
        self._cursor_ms = 0
        self._task: asyncio.Task[None] | None = None
        self.healthy = True  # False while the store cannot be read

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._cursor_ms = self._now_ms()  # pages load what is older themselves
        self._task = asyncio.create_task(self._run(), name="console-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
                self.healthy = True
            except StoreError as exc:
                if self.healthy:
                    log.warning("live feed: cannot read the store (%s); retrying", exc)
                self.healthy = False
            await asyncio.sleep(self._interval_s)

    async def poll(self) -> None:
        since = max(0, self._cursor_ms - self._lookback_ms)
        scans = await run_in_threadpool(self._data.scans_received_since, since)
        # never past this process's own clock: a worker whose clock runs ahead must not make
        # the feed skip what the others commit meanwhile (its scans are kept apart by `seen`)
        ceiling = self._now_ms()
        new: list[ScanView] = []
        for scan in scans:
            if scan.key in self._seen:
                continue
            self._seen[scan.key] = None
            if len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)
            self._cursor_ms = max(self._cursor_ms, min(scan.received_ms, ceiling))
            new.append(scan)
        if new:
            self._publish(Batch(new))

    def _publish(self, batch: Batch) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(batch)
            except asyncio.QueueFull:  # a page that does not read: let it go
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Batch | None]]:
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
