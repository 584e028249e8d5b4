"""Attendance kept up to date as scans arrive, in the hub's store.

Ingest marks (employee, UTC day) of every accepted scan in its own transaction (`mark`): cheap,
one upsert per batch. The derivation (`derive_pending`, run by the hub's ingest between message
groups, and by `presensi hub attendance recompute`) takes marks, derives each employee's work
days around them from all of that employee's scans (presensi.hub.attendance.derive), writes the
results and removes the marks, in one transaction. A mark raised again while it was being
derived (a scan committed meanwhile by another worker) carries a higher `mark` and stays, so
no scan is ever left out of its day; deriving twice gives the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from presensi.hub.attendance import signals
from presensi.hub.attendance.derive import (
    ELSEWHERE,
    MANUAL,
    Assignment,
    Day,
    Punch,
    Windows,
    allowed_locations,
    day_windows,
    derive_day,
)
from presensi.hub.attendance.marks import (
    DAY_MS,
    EPOCH,
    mark,
    mark_day,
    mark_punches,
    mark_range,
    mark_revoked,
)
from presensi.hub.attendance.rules import Group, Rules, default_rules, parse_rules
from presensi.hub.attendance.schedule import imported_holidays, roster

if TYPE_CHECKING:
    from presensi.hub.store import Database

__all__ = [
    "DAY_MS",
    "mark",
    "mark_day",
    "mark_punches",
    "mark_range",
    "mark_revoked",
]  # (moved to .marks)

MANUAL_LOCATION = MANUAL  # the location of a time set by hand in a correction
_DAY_COLUMNS = (
    "employee, work_date, shift, start_ms, end_ms, window_end_ms, first_in_ms, last_out_ms, "
    "late_min, early_min, codes, deduction, locations, rules_version, computed_ms, flags"
)


# -- rules -----------------------------------------------------------------------------------


def load_rules(db: Database, text: str, by: str, now_ms: int) -> int:
    """Check the rules text (RulesError if it has any problem: nothing is stored) and make it
    the rules in force; returns its version."""
    parse_rules(text)
    with db.transaction():
        db.execute(
            "INSERT INTO attendance_rules (text, loaded_ms, loaded_by) VALUES (?, ?, ?)",
            (text, now_ms, by),
        )
        row = db.execute("SELECT MAX(version) FROM attendance_rules")
    return int(row[0][0])


class RulesInForce:
    """The newest loaded rules (the defaults, version 0, until a file is loaded) with the
    imported holidays added, parsed once per version and import."""

    def __init__(self) -> None:
        self._key: tuple[int, tuple[int, int]] = (-1, (0, 0))
        self._cached: tuple[int, Rules] = (0, default_rules())

    def get(self, db: Database) -> tuple[int, Rules]:
        rows = db.execute("SELECT MAX(version) FROM attendance_rules")
        version = int(rows[0][0] or 0)
        stamp, holidays = imported_holidays(db)
        if (version, stamp) != self._key:
            if version == 0:
                rules = default_rules()
            else:
                text = db.execute("SELECT text FROM attendance_rules WHERE version = ?", (version,))
                rules = parse_rules(str(text[0][0]))
            if holidays:
                rules = dataclasses.replace(rules, holidays={**holidays, **rules.holidays})
            self._key, self._cached = (version, stamp), (version, rules)
        return self._cached


# -- derivation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mark:
    utc_day: dt.date
    span: tuple[int, int] | None  # the punches' times; None: the whole day


@dataclass
class _Wanted:
    days: set[dt.date]  # the work days to derive
    read: tuple[int, int]  # the scans to read (wall_ms from, to)


# scans read either side of new ones, for the signals: two scans further apart than this are
# never compared for travel (at the default 80 km/h, 960 km); a burst of refused attempts
# lasts minutes
SIGNAL_MARGIN_MS = 12 * 3_600_000


class _WindowsOf:
    """day_windows, asked once per (group, day, roster line) in a derivation: the employees
    of one group share their days' windows."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._known: dict[tuple[str, dt.date, Assignment | None], Windows | None] = {}

    def __call__(self, group: Group, day: dt.date, assigned: Assignment | None) -> Windows | None:
        key = (group.name, day, assigned)
        if key not in self._known:
            self._known[key] = day_windows(self._rules, group, day, assigned)
        return self._known[key]


def _wanted(
    windows_of: _WindowsOf,
    group: Group,
    employee: str,
    marks: Sequence[_Mark],
    rostered: dict[tuple[str, dt.date], Assignment],
) -> _Wanted:
    """The work days a mark can change and the scans they need: a whole-day mark, the work
    days around its UTC day (a night shift's, a zone's); new punches, only the days whose
    windows meet their times (usually one)."""
    days: set[dt.date] = set()
    low, high = [], []
    for m in marks:
        around = [m.utc_day + dt.timedelta(days=k) for k in (-1, 0, 1)]
        if m.span is None:
            days.update(around)
            low.append(_ms(m.utc_day) - 2 * DAY_MS)
            high.append(_ms(m.utc_day) + 4 * DAY_MS)
            continue
        lo, hi = m.span
        low.append(lo - SIGNAL_MARGIN_MS)
        high.append(hi + SIGNAL_MARGIN_MS + 1)
        for d in around:
            w = windows_of(group, d, rostered.get((employee, d)))
            if w is not None and w.opens_ms <= hi and lo <= w.closes_ms:
                days.add(d)
                low.append(w.opens_ms - SIGNAL_MARGIN_MS)
                high.append(w.closes_ms + SIGNAL_MARGIN_MS + 1)
    return _Wanted(days, (min(low), max(high)))


def _ms(day: dt.date) -> int:
    return (day - EPOCH).days * DAY_MS


def derive_pending(
    db: Database, rules_in_force: RulesInForce, *, limit: int = 500, now_ms: int | None = None
) -> int:
    """Derive the days of up to `limit` marks; how many marks were done (0: none waiting)."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with db.transaction():
        version, rules = rules_in_force.get(db)
        taken = db.execute(
            "SELECT employee, utc_day, mark, lo_ms, hi_ms FROM attendance_dirty "
            "ORDER BY employee, utc_day LIMIT ?",
            (limit,),
        )
        if not taken:
            return 0
        marks: dict[str, list[_Mark]] = defaultdict(list)
        for employee, utc_day, _, lo, hi in taken:
            span = None if lo is None or hi is None else (int(lo), int(hi))
            marks[str(employee)].append(_Mark(EPOCH + dt.timedelta(days=int(utc_day)), span))
        groups = _shift_groups(db, list(marks))
        first = min(m.utc_day for ms in marks.values() for m in ms) - dt.timedelta(days=1)
        last = max(m.utc_day for ms in marks.values() for m in ms) + dt.timedelta(days=1)
        rostered = roster(db, first, last, list(marks))
        wanted: dict[str, tuple[Group, _Wanted]] = {}
        windows_of = _WindowsOf(rules)
        for employee, ms in marks.items():
            group = rules.group_of(groups.get(employee, ""))
            if group is not None:  # else a shift group the rules do not name, and no default
                wanted[employee] = (group, _wanted(windows_of, group, employee, ms, rostered))
        coords = signals.coordinates(db)
        found: list[signals.Signal] = []
        scans = _scans(db, {e: w for e, (_, w) in wanted.items()})
        gone: list[tuple[str, str]] = []
        rows: list[tuple[object, ...]] = []
        for employee, (group, want) in wanted.items():
            punches, raw = scans.get(employee, ([], []))
            ordered = sorted(want.days)
            results = [
                derive_day(rules, group, employee, d, punches, rostered.get((employee, d)))
                for d in ordered
            ]
            gone += [
                (employee, d.isoformat())
                for d, r in zip(ordered, results, strict=True)
                if r is None
            ]
            rows += [_row(r, version, now_ms) for r in results if r is not None]
            # the signals, for someone seen at two places or refused (most are neither)
            if _worth_a_look(raw):
                seen = [signals.Seen(*r) for r in raw]
                found += signals.travel(employee, seen, coords, rules.signals)
                found += signals.attempts(employee, seen, rules.signals)
                found += signals.revoked(employee, seen)
            for day in results:
                if day is not None and ELSEWHERE in day.flags:
                    allowed = allowed_locations(group, rostered.get((employee, day.work_date)))
                    seen = [signals.Seen(*r) for r in raw]
                    found += signals.elsewhere(employee, day, seen, allowed)
        _write(db, gone, rows)
        signals.raise_signals(db, found, now_ms)
        db.executemany(
            "DELETE FROM attendance_dirty WHERE employee = ? AND utc_day = ? AND mark = ?",
            [(str(e), int(u), int(m)) for e, u, m, _, _ in taken],
        )
    return len(taken)


_Raw = tuple[str, int, str, str, str, str, int | None]  # signals.Seen's fields


def _worth_a_look(raw: Sequence[_Raw]) -> bool:
    """Whether the travel, attempts or revoked signals could find anything in these scans:
    accepted ones at two places or more, or any refused one."""
    places: set[str] = set()
    for r in raw:
        if r[4] != "accepted":
            return True
        places.add(r[3])
    return len(places) > 1


def derive_all(db: Database, rules_in_force: RulesInForce, *, batch: int = 500) -> int:
    """Derive until no mark is waiting; how many marks."""
    done = 0
    while count := derive_pending(db, rules_in_force, limit=batch):
        done += count
    return done


def _shift_groups(db: Database, employees: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(employees), 500):
        chunk = employees[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT number, shift_group FROM employees WHERE number IN ({marks})",  # noqa: S608
            tuple(chunk),
        )
        found.update((str(r[0]), str(r[1])) for r in rows)
    return found


_SCAN_COLUMNS = (
    "s.employee, s.scan_id, COALESCE(s.corrected_wall_ms, s.wall_ms), s.station, s.location, "
    "s.outcome, s.reason, s.serial, s.direction, "
    # a badge revoked before the scan (accepted by a station that had not heard yet): not a
    # punch until a person decides (a correction); the alerts page lists such scans
    "EXISTS (SELECT 1 FROM badges b WHERE b.serial = s.serial "
    "AND b.revoked_ms IS NOT NULL AND b.revoked_ms <= s.wall_ms)"
)


def _scans(db: Database, wanted: dict[str, _Wanted]) -> dict[str, tuple[list[Punch], list[_Raw]]]:
    """Per employee, the scans in their span to read: the punches attendance counts, and every
    accepted or refused scan for the cheating signals. A few hundred employees per query, each
    with their own span (a CTE of (employee, from, to) joined on the scans' index)."""
    out: dict[str, tuple[list[Punch], list[_Raw]]] = {}
    employees = sorted(wanted)
    for k in range(0, len(employees), 300):
        chunk = employees[k : k + 300]
        spans = ", ".join("(?, ?, ?)" for _ in chunk)
        rows = db.execute(
            f"WITH w (employee, lo, hi) AS (VALUES {spans}) "  # noqa: S608
            f"SELECT {_SCAN_COLUMNS} FROM w JOIN scans s ON s.employee = w.employee "
            "AND s.wall_ms >= w.lo AND s.wall_ms < w.hi "
            "WHERE s.outcome IN ('accepted', 'rejected') "
            # and those the station stamped elsewhere, whose time the hub corrected into it
            f"UNION ALL SELECT {_SCAN_COLUMNS} FROM w JOIN scans s ON s.employee = w.employee "
            "AND s.corrected_wall_ms >= w.lo AND s.corrected_wall_ms < w.hi "
            "WHERE s.outcome IN ('accepted', 'rejected') "
            "AND NOT (s.wall_ms >= w.lo AND s.wall_ms < w.hi)",
            tuple(v for e in chunk for v in (e, *wanted[e].read)),
        )
        for r in rows:
            punches, seen = out.setdefault(str(r[0]), ([], []))
            seen.append(
                (
                    str(r[1]),
                    int(r[2]),
                    str(r[3]),
                    str(r[4]),
                    str(r[5]),
                    str(r[6]),
                    None if r[7] is None else int(r[7]),
                )
            )
            if r[5] == "accepted" and not r[9]:
                punches.append(Punch(int(r[2]), str(r[8]), str(r[4])))
        # and the times set by hand in approved corrections (attendance/corrections.py)
        marks = ", ".join("?" for _ in chunk)
        first = min(wanted[e].read[0] for e in chunk) // DAY_MS
        last = max(wanted[e].read[1] for e in chunk) // DAY_MS
        manual = db.execute(
            "SELECT employee, check_in_ms, check_out_ms FROM attendance_corrections "  # noqa: S608
            f"WHERE employee IN ({marks}) AND work_date >= ? AND work_date <= ? "
            "AND decision = 'approved'",
            (
                *chunk,
                (EPOCH + dt.timedelta(days=first)).isoformat(),
                (EPOCH + dt.timedelta(days=last)).isoformat(),
            ),
        )
        for employee, check_in, check_out in manual:
            punches, _ = out.setdefault(str(employee), ([], []))
            if check_in is not None:
                punches.append(Punch(int(check_in), "in", MANUAL_LOCATION))
            if check_out is not None:
                punches.append(Punch(int(check_out), "out", MANUAL_LOCATION))
    return out


def _write(db: Database, gone: list[tuple[str, str]], rows: list[tuple[object, ...]]) -> None:
    """The derived days: rows written, days that no longer have a result removed."""
    db.executemany("DELETE FROM attendance_days WHERE employee = ? AND work_date = ?", gone)
    db.executemany(
        f"INSERT INTO attendance_days ({_DAY_COLUMNS}) VALUES ({', '.join('?' * 16)}) "  # noqa: S608
        "ON CONFLICT (employee, work_date) DO UPDATE SET shift = excluded.shift, "
        "start_ms = excluded.start_ms, end_ms = excluded.end_ms, "
        "window_end_ms = excluded.window_end_ms, first_in_ms = excluded.first_in_ms, "
        "last_out_ms = excluded.last_out_ms, late_min = excluded.late_min, "
        "early_min = excluded.early_min, codes = excluded.codes, deduction = excluded.deduction, "
        "locations = excluded.locations, rules_version = excluded.rules_version, "
        "computed_ms = excluded.computed_ms, flags = excluded.flags",
        rows,
    )


def _row(d: Day, version: int, now_ms: int) -> tuple[object, ...]:
    return (
        d.employee,
        d.work_date.isoformat(),
        d.shift,
        d.start_ms,
        d.end_ms,
        d.window_end_ms,
        d.first_in_ms,
        d.last_out_ms,
        d.late_min,
        d.early_min,
        ",".join(d.codes),
        d.deduction,
        ",".join(d.locations),
        version,
        now_ms,
        ",".join(d.flags),
    )


def stored_days(
    db: Database, first: dt.date, last: dt.date, employee: str | None = None
) -> list[Day]:
    """The derived days from `first` to `last` (work dates), every employee's or one's."""
    one = "" if employee is None else " AND employee = ?"
    rows = db.execute(
        f"SELECT {_DAY_COLUMNS} FROM attendance_days WHERE work_date >= ? AND work_date <= ?"  # noqa: S608
        f"{one} ORDER BY employee, work_date",
        (first.isoformat(), last.isoformat(), *(() if employee is None else (employee,))),
    )
    return [_day(r) for r in rows]


def _day(r: Sequence[Any]) -> Day:
    return Day(
        str(r[0]),
        dt.date.fromisoformat(str(r[1])),
        str(r[2]),
        int(r[3]),
        int(r[4]),
        int(r[5]),
        None if r[6] is None else int(r[6]),
        None if r[7] is None else int(r[7]),
        int(r[8]),
        int(r[9]),
        tuple(str(r[10]).split(",")),
        float(r[11]),
        tuple(c for c in str(r[12]).split(",") if c),
        tuple(c for c in str(r[15] or "").split(",") if c),
    )
