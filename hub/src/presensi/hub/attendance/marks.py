"""Which (employee, UTC day) must be derived again: marked by ingest in the same transaction as
the scans, by corrections, revocations, roster and holiday imports, and by a recompute; taken by
the derivation (presensi.hub.attendance.days).

A mark made by new punches carries the span of their times (`lo_ms`, `hi_ms`): only the work
days whose windows meet that span can change, so only those are derived again. Every other
mark (a correction, a revocation, an import, a recompute) covers its whole days (NULL span).
Marks of one (employee, day) merge: the spans join, and a whole-day mark absorbs a span."""

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
# a second mark of the same (employee, day): raised (see days.py), its span joined
_MERGE = (
    "ON CONFLICT (employee, utc_day) DO UPDATE SET mark = attendance_dirty.mark + 1, "
    "lo_ms = CASE WHEN attendance_dirty.lo_ms IS NULL OR excluded.lo_ms IS NULL THEN NULL "
    "WHEN excluded.lo_ms < attendance_dirty.lo_ms THEN excluded.lo_ms "
    "ELSE attendance_dirty.lo_ms END, "
    "hi_ms = CASE WHEN attendance_dirty.hi_ms IS NULL OR excluded.hi_ms IS NULL THEN NULL "
    "WHEN excluded.hi_ms > attendance_dirty.hi_ms THEN excluded.hi_ms "
    "ELSE attendance_dirty.hi_ms END"
)
_INSERT = "INSERT INTO attendance_dirty (employee, utc_day, lo_ms, hi_ms) "
_MARK_SPAN = f"{_INSERT} VALUES (?, ?, ?, ?) {_MERGE}"
_MARK_WHOLE = f"{_INSERT} VALUES (?, ?, NULL, NULL) {_MERGE}"


def mark(db: Database, records: Iterable[ScanRecord]) -> None:
    """Inside the caller's transaction: the accepted scans' days need deriving again."""
    mark_punches(
        db,
        (
            (r.employee, r.wall_ms)
            for r in records
            # refused ones too: the cheating signals look at them (attendance/signals.py)
            if r.employee and r.outcome in (Outcome.ACCEPTED, Outcome.REJECTED)
        ),
    )


def mark_punches(db: Database, punches: Iterable[tuple[str, int]]) -> None:
    """Inside the caller's transaction: (employee, time) of scans that arrived or whose time
    the hub corrected; the days they can fall on need deriving again."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for employee, at_ms in punches:
        key = (employee, at_ms // DAY_MS)
        lo, hi = spans.get(key, (at_ms, at_ms))
        spans[key] = (min(lo, at_ms), max(hi, at_ms))
    if spans:
        db.executemany(_MARK_SPAN, [(e, d, lo, hi) for (e, d), (lo, hi) in sorted(spans.items())])


def mark_day(db: Database, employee: str, work_date: dt.date) -> None:
    """Inside the caller's transaction: derive the employee's `work_date` again."""
    db.executemany(_MARK_WHOLE, _whole_day(employee, work_date))


def _whole_day(employee: str, work_date: dt.date) -> list[tuple[str, int]]:
    """The marks that derive a work day again: its UTC day and the next (a shift may run past
    midnight, and a zone ahead of UTC starts the day on the UTC day before)."""
    day = (work_date - EPOCH).days
    return [(employee, day), (employee, day + 1)]


def mark_revoked(db: Database, serials: Sequence[int]) -> None:
    """Inside the caller's transaction: badges whose revocation was set or changed; the days
    of their scans are derived again (a scan made after the revocation is not a punch)."""
    for serial in serials:
        db.execute(
            "INSERT INTO attendance_dirty (employee, utc_day, lo_ms, hi_ms) "  # noqa: S608
            # the day it counts on: the hub's corrected time where a station's clock was off
            "SELECT DISTINCT employee, COALESCE(corrected_wall_ms, wall_ms) / ?, "
            "CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) "
            "FROM scans WHERE serial = ? "
            f"AND outcome = 'accepted' AND employee IS NOT NULL {_MERGE}",
            (DAY_MS, serial),
        )


def mark_range(db: Database, first: dt.date, last: dt.date, *, own_transaction: bool = True) -> int:
    """Mark every employee's days with scans from `first` to `last` (a recompute after a rule
    change); how many marks. Inside the caller's transaction if not `own_transaction`."""
    low = (first - EPOCH).days - 1
    high = (last - EPOCH).days + 1
    with db.transaction() if own_transaction else contextlib.nullcontext():
        span = (low * DAY_MS, (high + 1) * DAY_MS)
        rows = db.execute(
            "SELECT employee, wall_ms / ? FROM scans WHERE outcome = 'accepted' "
            "AND employee IS NOT NULL AND wall_ms >= ? AND wall_ms < ? "
            # and by the hub's corrected time, where a station's clock was off (the days
            # the count puts such a scan on: presensi.hub.attendance.days)
            "UNION SELECT employee, corrected_wall_ms / ? FROM scans "
            "WHERE corrected_wall_ms IS NOT NULL AND outcome = 'accepted' "
            "AND employee IS NOT NULL AND corrected_wall_ms >= ? AND corrected_wall_ms < ?",
            (DAY_MS, *span, DAY_MS, *span),
        )
        marks = [(str(r[0]), int(r[1])) for r in rows]
        # and the days whose only punches are times set by hand (approved corrections)
        fixed = db.execute(
            "SELECT DISTINCT employee, work_date FROM attendance_corrections "
            "WHERE decision = 'approved' AND work_date >= ? AND work_date <= ?",
            (first.isoformat(), last.isoformat()),
        )
        for employee, work_date in fixed:
            marks += _whole_day(str(employee), dt.date.fromisoformat(str(work_date)))
        db.executemany(_MARK_WHOLE, marks)
    return len(marks)
