"""Which (employee, UTC day) must be derived again: marked by ingest in the same transaction as
the scans, by corrections, revocations, roster and holiday imports, and by a recompute; taken by
the derivation (presensi.hub.attendance.days)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from presensi.protocol.reasons import Outcome
from presensi.protocol.record import ScanRecord

if TYPE_CHECKING:
    from presensi.hub.store import Database

DAY_MS = 86_400_000
EPOCH = dt.date(1970, 1, 1)


def mark(db: Database, records: Iterable[ScanRecord]) -> None:
    """Inside the caller's transaction: the accepted scans' days need deriving again."""
    marks = sorted(
        {
            (r.employee, r.wall_ms // DAY_MS)
            for r in records
            # refused ones too: the cheating signals look at them (attendance/signals.py)
            if r.employee and r.outcome in (Outcome.ACCEPTED, Outcome.REJECTED)
        }
    )
    if marks:
        db.executemany(
            "INSERT INTO attendance_dirty (employee, utc_day) VALUES (?, ?) "
            "ON CONFLICT (employee, utc_day) DO UPDATE SET mark = attendance_dirty.mark + 1",
            marks,
        )


def mark_day(db: Database, employee: str, work_date: dt.date) -> None:
    """Inside the caller's transaction: derive the employee's `work_date` again."""
    day = (work_date - EPOCH).days
    db.executemany(
        "INSERT INTO attendance_dirty (employee, utc_day) VALUES (?, ?) "
        "ON CONFLICT (employee, utc_day) DO UPDATE SET mark = attendance_dirty.mark + 1",
        [(employee, day), (employee, day + 1)],
    )


def mark_revoked(db: Database, serials: Sequence[int]) -> None:
    """Inside the caller's transaction: badges whose revocation was set or changed; the days
    of their scans are derived again (a scan made after the revocation is not a punch)."""
    for serial in serials:
        db.execute(
            "INSERT INTO attendance_dirty (employee, utc_day) "
            "SELECT DISTINCT employee, wall_ms / ? FROM scans WHERE serial = ? "
            "AND outcome = 'accepted' AND employee IS NOT NULL "
            "ON CONFLICT (employee, utc_day) DO UPDATE SET mark = attendance_dirty.mark + 1",
            (DAY_MS, serial),
        )


def mark_range(db: Database, first: dt.date, last: dt.date, *, own_transaction: bool = True) -> int:
    """Mark every employee's days with scans from `first` to `last` (a recompute after a rule
    change); how many marks. Inside the caller's transaction if not `own_transaction`."""
    low = (first - EPOCH).days - 1
    high = (last - EPOCH).days + 1
    with db.transaction() if own_transaction else contextlib.nullcontext():
        rows = db.execute(
            "SELECT DISTINCT employee, wall_ms / ? FROM scans WHERE outcome = 'accepted' "
            "AND employee IS NOT NULL AND wall_ms >= ? AND wall_ms < ?",
            (DAY_MS, low * DAY_MS, (high + 1) * DAY_MS),
        )
        marks = [(str(r[0]), int(r[1])) for r in rows]
        db.executemany(
            "INSERT INTO attendance_dirty (employee, utc_day) VALUES (?, ?) "
            "ON CONFLICT (employee, utc_day) DO UPDATE SET mark = attendance_dirty.mark + 1",
            marks,
        )
    return len(marks)
