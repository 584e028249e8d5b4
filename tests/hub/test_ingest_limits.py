"""The hub's bounds, on their own: rejects kept per station per minute (the rest counted and
summed up), rejects purged by age and count, and an inbox bounded in bytes."""

from __future__ import annotations

import threading
import time

from presensi.hub.ingest import Inbox, RejectGate, _Message
from presensi.hub.store import SqlStore


def test_the_gate_keeps_20_a_minute_per_station_and_sums_up_the_rest() -> None:
    gate = RejectGate(per_window=20, window_s=60)
    kept = [gate.admit("st-002", "bad telemetry message: nested", 100.0)[0] for _ in range(50)]
    assert kept.count(True) == 20 and kept[:20] == [True] * 20
    assert gate.admit("st-001", "bad status", 100.0) == (True, None)  # another station: its own
    keep, summary = gate.admit("st-002", "bad telemetry message: nested", 161.0)
    assert keep and summary == "30 more rejects not kept in 60 s: 30 x bad telemetry message"


def test_rejects_are_purged_by_age_and_by_count(store: SqlStore) -> None:
    for i in range(30):
        store.reject(1000 + i, "presensi/v1/stations/st-1/status", "st-1", "bad", b"x")
    assert store.purge_rejects(before_ms=1010, keep=1000) == 10  # older than 1010 ms
    assert store.purge_rejects(before_ms=0, keep=5) == 15  # all but the newest 5
    assert [r.received_ms for r in store.rejects()] == [1029, 1028, 1027, 1026, 1025]


def test_the_inbox_makes_a_flood_wait_instead_of_growing() -> None:
    inbox = Inbox(max_bytes=1000)
    stop = threading.Event()
    for i in range(3):
        inbox.put(_Message("t", b"x" * 500, i, 500), stop)  # over the budget now
    waited = threading.Event()

    def producer() -> None:
        inbox.put(_Message("t", b"y" * 10, 9, 10), stop)
        waited.set()

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.2)
    assert not waited.is_set()  # the network thread waits while the worker is behind
    got = [inbox.get(0.1) for _ in range(2)]
    assert all(m is not None for m in got)
    thread.join(5)
    assert waited.is_set()
