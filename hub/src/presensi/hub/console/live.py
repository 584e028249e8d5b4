"""The live feed: one poller per console process follows the scans the ingest workers commit
(by their arrival time) and hands each new one to every open live page.

Polling the store, not the broker: a page shows only what the hub has committed, on SQLite and
PostgreSQL alike, and the cost is one indexed query every `interval_s` whatever the number of
open pages (paged by arrival key: at 1,000 scans/s a poll reads only what is new). Because
several workers commit in an order that can differ from their arrival times, the feed looks
`lookback_ms` behind its tail once a second; scans already sent are remembered (bounded) so
none is sent twice.
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


Arrival = tuple[int, str, str, int, int]  # received_ms, station, journal, fork, seq
PAGE = 2000  # rows a query fetches
MAX_PAGES = 20  # per poll: a burst bigger than this is caught up over the next polls
SWEEP_EVERY = 10  # polls between two looks behind the tail


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
        self._tail: Arrival = (0, "", "", -1, -1)
        self._polls = 0
        self._task: asyncio.Task[None] | None = None
        self.healthy = True  # False while the store cannot be read

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._tail = (self._now_ms(), "", "", -1, -1)  # pages load what is older themselves
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
        """Send what was committed since the last poll: the tail after the newest arrival
        seen, page by page; and, every SWEEP_EVERY polls, what another worker committed late
        within `lookback_ms` behind it."""
        new: list[ScanView] = []
        # never past this process's own clock: a worker whose clock runs ahead must not make
        # the feed skip what the others commit meanwhile (its scans are kept apart by `seen`)
        ceiling: Arrival = (self._now_ms(), "", "", -1, -1)
        for _ in range(MAX_PAGES):
            page = await run_in_threadpool(self._data.scans_arrived_after, self._tail, PAGE)
            new += self._unseen(page)
            if page:
                self._tail = max(self._tail, min(page[-1].arrival, ceiling))
            if len(page) < PAGE or page[-1].arrival > ceiling:
                break
        self._polls += 1
        if self._polls % SWEEP_EVERY == 0:
            new += await self._sweep()
        if new:
            new.sort(key=lambda s: s.arrival)
            self._publish(Batch(new))

    async def _sweep(self) -> list[ScanView]:
        key: Arrival = (self._tail[0] - self._lookback_ms, "", "", -1, -1)
        late: list[ScanView] = []
        while key < self._tail:
            page = await run_in_threadpool(self._data.scans_arrived_after, key, PAGE)
            behind = [s for s in page if s.arrival <= self._tail]
            late += self._unseen(behind)
            if len(page) < PAGE or len(behind) < len(page):
                break
            key = page[-1].arrival
        return late

    def _unseen(self, scans: list[ScanView]) -> list[ScanView]:
        fresh = []
        for scan in scans:
            if scan.key in self._seen:
                continue
            self._seen[scan.key] = None
            if len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)
            fresh.append(scan)
        return fresh

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
