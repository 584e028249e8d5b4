"""A short-lived memo shared by every request of one console process: the fleet's views (every
station, its journals, its last telemetry) and today's scans per place are read at most about
once a second however many pages ask, instead of once per page. At 1,000 stations and 1,000
scans/s these reads are most of what Ringkasan, Stasiun, Lokasi and Peringatan cost, and the
console's store connection serves one query at a time.

Single flight: while one thread computes a value, the others asking for the same key wait for
it rather than computing it again. A failure (the store unreachable) is not kept: the next ask
tries again. With `ttl_s` 0 nothing is kept (the tests that change the store between two
requests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    at: float = float("-inf")


class Shared:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many times a value was computed (for tests and metrics)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl_s <= 0:
            self.computed += 1
            return compute()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) > 64:  # keys are few (a day, a language): stay bounded
                    self._entries.clear()
                entry = self._entries[key] = _Entry()
        if self.clock() - entry.at < self.ttl_s:
            value: T = entry.value
            return value
        with entry.lock:  # one computes; the others wait here, then find it fresh
            if self.clock() - entry.at < self.ttl_s:
                fresh: T = entry.value
                return fresh
            value = compute()
            self.computed += 1
            entry.value, entry.at = value, self.clock()
            return value
