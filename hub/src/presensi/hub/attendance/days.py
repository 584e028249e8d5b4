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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from presensi.hub.attendance import signals
from presensi.hub.attendance.derive import (
    ELSEWHERE,
    MANUAL,
    Assignment,
    Beside,
    Counted,
    Day,
    Windows,
    allowed_locations,
    judge,
    shift_on,
    windows,
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
from presensi.hub.attendance.rules import Group, Rules, Shift, default_rules, parse_rules
from presensi.hub.attendance.schedule import imported_holidays, roster
from presensi.hub.badges import REVOKED_BEFORE_SCAN

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
_PG_DERIVE_LOCK = 0x70726573_64657276  # "presderv": PostgreSQL advisory lock key


class _WindowsOf:
    """The shift worked and its windows, worked out once per (group, day, roster line) in a
    derivation: the employees of one group share their days'."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._known: dict[tuple[str, dt.date, Assignment | None], tuple[Shift, Windows] | None]
        self._known = {}

    def __call__(
        self, group: Group, day: dt.date, assigned: Assignment | None
    ) -> tuple[Shift, Windows] | None:
        key = (group.name, day, assigned)
        if key not in self._known:
            shift = shift_on(self._rules, group, day, assigned)
            self._known[key] = (
                None if shift is None else (shift, windows(shift, day, group.timezone))
            )
        return self._known[key]

    def beside(
        self,
        group: Group,
        employee: str,
        day: dt.date,
        rostered: dict[tuple[str, dt.date], Assignment],
    ) -> Beside:
        """The windows of the work days either side of `day` that can meet its own."""
        before, after = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
        previous = self(group, before, rostered.get((employee, before)))
        following = self(group, after, rostered.get((employee, after)))
        return Beside.of(
            None if previous is None else previous[1], None if following is None else following[1]
        )


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
            worked = windows_of(group, d, rostered.get((employee, d)))
            if worked is None:
                continue
            w = worked[1]
            if w.opens_ms <= hi and lo <= w.closes_ms:
                days.add(d)
                low.append(w.opens_ms - SIGNAL_MARGIN_MS)
                high.append(w.closes_ms + SIGNAL_MARGIN_MS + 1)
    return _Wanted(days, (min(low), max(high)))


def _ms(day: dt.date) -> int:
    return (day - EPOCH).days * DAY_MS


def _take(
    db: Database, limit: int, wait: bool
) -> tuple[list[tuple[Any, ...]], dict[str, list[_Mark]]]:
    """Inside the derivation's transaction: up to `limit` waiting marks, as rows (to delete
    them by their `mark` once done) and per employee; none if another hub worker is deriving
    and `wait` is False."""
    if db.dialect == "postgres":
        # one derivation at a time across hub workers: two taking the same marks would race
        # (one deleting a mark a scan raised anew after the other's delete, or writing an
        # older result over a newer one); SQLite has one writer anyway
        if wait:
            db.execute("SELECT pg_advisory_xact_lock(?)", (_PG_DERIVE_LOCK,))
        elif not db.execute("SELECT pg_try_advisory_xact_lock(?)", (_PG_DERIVE_LOCK,))[0][0]:
            return [], {}
    taken = db.execute(
        "SELECT employee, utc_day, mark, lo_ms, hi_ms FROM attendance_dirty "
        "ORDER BY employee, utc_day LIMIT ?",
        (limit,),
    )
    marks: dict[str, list[_Mark]] = defaultdict(list)
    for employee, utc_day, _, lo, hi in taken:
        span = None if lo is None or hi is None else (int(lo), int(hi))
        marks[str(employee)].append(_Mark(EPOCH + dt.timedelta(days=int(utc_day)), span))
    return taken, marks


def derive_pending(
    db: Database,
    rules_in_force: RulesInForce,
    *,
    limit: int = 500,
    now_ms: int | None = None,
    wait: bool = True,
) -> int:
    """Derive the days of up to `limit` marks; how many marks were done (0: none waiting, or
    another hub worker deriving and `wait` False: the hub's ingest does not wait for it, since
    that worker takes the marks)."""
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with db.transaction():
        taken, marks = _take(db, limit, wait)
        if not taken:
            return 0
        version, rules = rules_in_force.get(db)
        groups = _shift_groups(db, list(marks))
        # the work days around the marks, and the days either side of those (Beside)
        first = min(m.utc_day for ms in marks.values() for m in ms) - dt.timedelta(days=2)
        last = max(m.utc_day for ms in marks.values() for m in ms) + dt.timedelta(days=2)
        rostered = roster(db, first, last, list(marks))
        wanted: dict[str, tuple[Group, _Wanted]] = {}
        windows_of = _WindowsOf(rules)
        for employee, ms in marks.items():
            group = rules.group_of(groups.get(employee, ""))
            if group is not None:  # else a shift group the rules do not name, and no default
                wanted[employee] = (group, _wanted(windows_of, group, employee, ms, rostered))
        # what each day's punches come to, counted by the database (attendance/derive.py
        # says the same in Python: count_punches)
        worked: list[tuple[str, dt.date, Shift, Windows, Assignment | None]] = []
        gone: list[tuple[str, str]] = []
        for employee, (group, want) in wanted.items():
            for d in sorted(want.days):
                assigned = rostered.get((employee, d))
                shift_windows = windows_of(group, d, assigned)
                if shift_windows is None:
                    gone.append((employee, d.isoformat()))  # a day off (now)
                else:
                    worked.append((employee, d, *shift_windows, assigned))
        counted = _count(
            db,
            [
                (e, d, w, windows_of.beside(wanted[e][0], e, d, rostered))
                for e, d, _, w, _ in worked
            ],
        )
        rows: list[tuple[object, ...]] = []
        stray: list[Day] = []
        for employee, d, shift, _, assigned in worked:
            found_punches = counted.get((employee, d))
            if found_punches is None:
                gone.append((employee, d.isoformat()))  # no punch inside its windows
                continue
            group = wanted[employee][0]
            day = judge(rules, group, employee, d, shift, found_punches, assigned)
            rows.append(_row(day, version, now_ms))
            if ELSEWHERE in day.flags:
                stray.append(day)
        _write(db, gone, rows)
        found = _signals(db, rules, wanted, rostered, stray)
        signals.raise_signals(db, found, now_ms)
        done = [(str(e), int(u), int(m)) for e, u, m, _, _ in taken]
        for source, params in _rows_in(db, ("text", "bigint", "bigint"), done, ("", 0, 0)):
            db.execute(
                f"DELETE FROM attendance_dirty WHERE (employee, utc_day, mark) IN ({source})",  # noqa: S608
                params,
            )
    return len(taken)


_Raw = tuple[str, int, str, str, str, str, int | None, str | None]  # signals.Seen's fields


def _signals(
    db: Database,
    rules: Rules,
    wanted: dict[str, tuple[Group, _Wanted]],
    rostered: dict[tuple[str, dt.date], Assignment],
    stray: Sequence[Day],
) -> list[signals.Signal]:
    """The cheating signals, for those seen at two places (or a phone at two stations),
    refused, or somewhere not assigned: their scans are read, everyone else's are not."""
    spans = {e: w.read for e, (_, w) in wanted.items()}
    look = _worth_a_look(db, spans) | {day.employee for day in stray}
    if not look:
        return []
    seen = _seen(db, {e: spans[e] for e in look})
    coords = signals.coordinates(db)
    found: list[signals.Signal] = []
    for employee in sorted(look):
        theirs = [signals.Seen(*r) for r in seen.get(employee, [])]
        found += signals.travel(employee, theirs, coords, rules.signals)
        found += signals.attempts(employee, theirs, rules.signals)
        found += signals.revoked(employee, theirs)
        found += signals.phone_copies(employee, theirs)
    for day in stray:
        group = wanted[day.employee][0]
        allowed = allowed_locations(group, rostered.get((day.employee, day.work_date)))
        theirs = [signals.Seen(*r) for r in seen.get(day.employee, [])]
        found += signals.elsewhere(day.employee, day, theirs, allowed)
    return found


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


# an accepted scan that counts: not of a badge revoked before it was made (accepted by a
# station that had not heard yet: not a punch until a person decides, with a correction; the
# alerts page lists such scans)
_NOT_REVOKED = f"NOT {REVOKED_BEFORE_SCAN}"
_CHUNK = 200  # days (or employees) per query
_SQLITE_MAX_VARIABLES = 999  # placeholders a statement, in SQLite before 3.32 (Debian 11's)


def _rows_in(
    db: Database, types: Sequence[str], rows: Sequence[Sequence[object]], filler: Sequence[object]
) -> Iterator[tuple[str, list[object]]]:
    """Rows handed to a query as a table (for a CTE or an INSERT), in as few statements as
    the engine likes, each with the same text so that it is parsed and planned once:
    PostgreSQL takes them all as arrays (`unnest`, one placeholder a column, not one a
    value: the driver would parse a statement of thousands of them every time); SQLite as
    VALUES, _CHUNK rows a statement, the last one filled up with `filler` (a row that matches
    nothing)."""
    if not rows:
        return
    if db.dialect == "postgres":
        arrays = ", ".join(f"?::{t}[]" for t in types)
        yield (
            f"SELECT * FROM unnest({arrays})",  # noqa: S608
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    size = min(_CHUNK, _SQLITE_MAX_VARIABLES // len(types))
    one = f"({', '.join('?' for _ in types)})"
    values = f"VALUES {', '.join(one for _ in range(size))}"
    for k in range(0, len(rows), size):
        chunk = list(rows[k : k + size])
        chunk += [filler] * (size - len(chunk))
        yield values, [v for row in chunk for v in row]


_NO_SPAN = ("", 1, 0)  # an employee nobody is, an empty span
_SPAN_TYPES = ("text", "bigint", "bigint")
_W = "w.employee, w.work_date"
_WINDOWS = "w.in_from, w.in_to, w.out_from, w.out_to, w.po_from, w.po_to, w.ni_from, w.ni_to"


def _scans_of(dialect: str, where: str) -> str:
    """`FROM w` joined with each row's scans (`s`) that meet `where`, found by the employee's
    index row by row: on PostgreSQL a LATERAL subquery kept apart by `OFFSET 0`, since its
    planner cannot know how few scans a span from an array holds and would otherwise read
    every scan into a hash join (0.36 s a batch at 300,000 scans, against 0.03 s); SQLite's
    planner already loops over `w`."""
    if dialect == "postgres":
        return f"FROM w CROSS JOIN LATERAL (SELECT * FROM scans s WHERE {where} OFFSET 0) s"  # noqa: S608
    return f"FROM w JOIN scans s ON {where}"


_BY_WALL = "s.employee = w.employee AND s.wall_ms >= w.lo AND s.wall_ms <= w.hi"
_BY_CORRECTED = (
    "s.employee = w.employee AND s.corrected_wall_ms >= w.lo AND s.corrected_wall_ms <= w.hi "
    "AND NOT (s.wall_ms >= w.lo AND s.wall_ms <= w.hi)"
)


def _punches_near(dialect: str) -> str:
    """The CTE `p`: every punch near a day of `w`, with the day's windows beside it."""
    accepted = f"s.outcome = 'accepted' AND {_NOT_REVOKED}"
    return f"""
    p (employee, work_date, t, direction, location, in_from, in_to, out_from, out_to,
       po_from, po_to, ni_from, ni_to) AS (
        SELECT {_W}, COALESCE(s.corrected_wall_ms, s.wall_ms), s.direction, s.location, {_WINDOWS}
        {_scans_of(dialect, f"{_BY_WALL} AND {accepted}")}
    UNION ALL  -- stamped elsewhere by the station, its time corrected into the day by the hub
        SELECT {_W}, s.corrected_wall_ms, s.direction, s.location, {_WINDOWS}
        {_scans_of(dialect, f"{_BY_CORRECTED} AND {accepted}")}
    UNION ALL  -- times set by hand (attendance/corrections.py)
        SELECT {_W}, c.check_in_ms, 'in', '{MANUAL}', {_WINDOWS}
        FROM w JOIN attendance_corrections c ON c.employee = w.employee
            AND c.decision = 'approved' AND c.check_in_ms >= w.lo AND c.check_in_ms <= w.hi
    UNION ALL
        SELECT {_W}, c.check_out_ms, 'out', '{MANUAL}', {_WINDOWS}
        FROM w JOIN attendance_corrections c ON c.employee = w.employee
            AND c.decision = 'approved' AND c.check_out_ms >= w.lo AND c.check_out_ms <= w.hi
    )"""  # noqa: S608 (built from the constants above, no input)


_PUNCHES_NEAR = {d: _punches_near(d) for d in ("sqlite", "postgres")}
# where a punch falls decides what it is; where windows meet (the day's own two, or one of a
# neighbouring day's: po = the previous day's check-out window, ni = the next day's check-in
# window), its direction; a time set by hand counts only as what it was set as
# (attendance/derive.py: count_punches says the same in Python)
_IN_IN = "t >= in_from AND t <= in_to"
_IN_OUT = "t >= out_from AND t <= out_to"
_IN_PREVIOUS_OUT = "t >= po_from AND t <= po_to"
_IN_NEXT_IN = "t >= ni_from AND t <= ni_to"
_GUESSED = f"location <> '{MANUAL}'"
_ARRIVAL = (
    f"{_IN_IN} AND (direction = 'in' OR (direction = 'out' AND {_GUESSED} "
    f"AND NOT ({_IN_OUT}) AND NOT ({_IN_PREVIOUS_OUT})))"
)
_DEPARTURE = (
    f"{_IN_OUT} AND (direction = 'out' OR (direction = 'in' AND {_GUESSED} "
    f"AND NOT ({_IN_IN}) AND NOT ({_IN_NEXT_IN})))"
)
_INSIDE = f"(({_ARRIVAL}) OR ({_DEPARTURE}))"
_COUNTED = f"""
    SELECT employee, work_date,
        MIN(CASE WHEN {_ARRIVAL} THEN t END),
        MAX(CASE WHEN {_DEPARTURE} THEN t END),
        {{places}}
    FROM p GROUP BY employee, work_date"""  # noqa: S608 (constants above, no input)
_PLACES = {
    "sqlite": f"group_concat(DISTINCT CASE WHEN {_INSIDE} THEN location END)",
    "postgres": f"string_agg(DISTINCT CASE WHEN {_INSIDE} THEN location END, ',')",
}


def _count(
    db: Database, days: Sequence[tuple[str, dt.date, Windows, Beside]]
) -> dict[tuple[str, dt.date], Counted]:
    """What each day's punches come to, in a few queries: the employee's accepted scans
    inside the day's windows by the hub's time (the station's, or the one the hub corrected),
    and the times set by hand in approved corrections (location "manual")."""
    counted = _COUNTED.format(places=_PLACES[db.dialect])
    out: dict[tuple[str, dt.date], Counted] = {}
    wanted = [
        (e, d.isoformat(), *w.check_in, *w.check_out, w.opens_ms, w.closes_ms, *near.spans)
        for e, d, w, near in days
    ]
    types = ("text", "text", *("bigint",) * 10)
    filler = ("", "", 0, -1, 0, -1, 1, 0, 1, 0, 1, 0)
    for source, params in _rows_in(db, types, wanted, filler):
        rows = db.execute(
            "WITH w (employee, work_date, in_from, in_to, out_from, out_to, lo, hi, "
            "po_from, po_to, ni_from, ni_to) AS "
            f"({source}), {_PUNCHES_NEAR[db.dialect]} {counted}",
            params,
        )
        for employee, work_date, first_in, last_out, places in rows:
            if first_in is None and last_out is None:
                continue  # scans near the day, none inside its windows
            out[str(employee), dt.date.fromisoformat(str(work_date))] = Counted(
                None if first_in is None else int(first_in),
                None if last_out is None else int(last_out),
                frozenset(str(places).split(",")) if places else frozenset(),
            )
    return out


def _worth_a_look(db: Database, spans: dict[str, tuple[int, int]]) -> set[str]:
    """Who the travel, attempts and revoked signals could find anything for: someone with
    accepted scans at two places or more in their span, or any refused one, or a phone badge
    accepted at two stations (most have none of these, and their scans are not read)."""
    found: set[str] = set()
    wanted = [(e, *spans[e]) for e in sorted(spans)]
    for source, params in _rows_in(db, _SPAN_TYPES, wanted, _NO_SPAN):
        rows = db.execute(
            f"WITH w (employee, lo, hi) AS ({source}) "
            f"SELECT w.employee {_scans_of(db.dialect, _BY_WALL)} "
            "WHERE s.outcome IN ('accepted', 'rejected') GROUP BY w.employee "
            "HAVING COUNT(DISTINCT CASE WHEN s.outcome = 'accepted' THEN s.location END) > 1 "
            "OR SUM(CASE WHEN s.outcome = 'rejected' THEN 1 ELSE 0 END) > 0 "
            "OR COUNT(DISTINCT CASE WHEN s.outcome = 'accepted' "  # one phone, two stations
            f"AND s.serial >= {signals.PHONE_SERIAL_BASE} THEN s.station END) > 1 "
            # (a scan whose time the hub moved into the span: looked at, to be sure)
            f"UNION SELECT w.employee {_scans_of(db.dialect, _BY_CORRECTED)} "
            "WHERE s.outcome IN ('accepted', 'rejected')",
            params,
        )
        found.update(str(r[0]) for r in rows)
    return found


_SEEN_COLUMNS = (
    "s.employee, s.scan_id, COALESCE(s.corrected_wall_ms, s.wall_ms), s.station, s.location, "
    "s.outcome, s.reason, s.serial, "
    f"CASE WHEN s.serial >= {signals.PHONE_SERIAL_BASE} THEN s.body END"  # phones' fingerprint
)


def _seen(db: Database, spans: dict[str, tuple[int, int]]) -> dict[str, list[_Raw]]:
    """Per employee, every accepted or refused scan in their span (by the station's time or
    the hub's corrected one), as the signals need them."""
    out: dict[str, list[_Raw]] = {}
    wanted = [(e, *spans[e]) for e in sorted(spans)]
    for source, params in _rows_in(db, _SPAN_TYPES, wanted, _NO_SPAN):
        rows = db.execute(
            f"WITH w (employee, lo, hi) AS ({source}) "
            f"SELECT {_SEEN_COLUMNS} {_scans_of(db.dialect, _BY_WALL)} "
            "WHERE s.outcome IN ('accepted', 'rejected') "
            f"UNION ALL SELECT {_SEEN_COLUMNS} {_scans_of(db.dialect, _BY_CORRECTED)} "
            "WHERE s.outcome IN ('accepted', 'rejected')",
            params,
        )
        for r in rows:
            out.setdefault(str(r[0]), []).append(
                (
                    str(r[1]),
                    int(r[2]),
                    str(r[3]),
                    str(r[4]),
                    str(r[5]),
                    str(r[6]),
                    None if r[7] is None else int(r[7]),
                    signals.fingerprint(r[8]),
                )
            )
    return out


_DAY_TYPES = (
    *("text",) * 3,
    *("bigint",) * 5,
    "integer",
    "integer",
    "text",
    "double precision",
    "text",
    "bigint",
    "bigint",
    "text",
)
_UPSERT_DAY = "ON CONFLICT (employee, work_date) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _DAY_COLUMNS.split(", ")[2:]
)


def _write(db: Database, gone: list[tuple[str, str]], rows: list[tuple[object, ...]]) -> None:
    """The derived days: rows written, days that no longer have a result removed."""
    for source, params in _rows_in(db, ("text", "text"), gone, ("", "")):
        db.execute(
            f"DELETE FROM attendance_days WHERE (employee, work_date) IN ({source})",  # noqa: S608
            params,
        )
    # (SQLite's last statement is filled up with copies of its last row: written again with
    # the same values, which an upsert allows there)
    filler = rows[-1] if rows else ()
    for source, params in _rows_in(db, _DAY_TYPES, rows, filler):
        db.execute(f"INSERT INTO attendance_days ({_DAY_COLUMNS}) {source} {_UPSERT_DAY}", params)


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
