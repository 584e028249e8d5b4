"""What the rules file does not say, imported from CSV: the roster of per-day shifts of rotating
bus crews, and the year's public holidays (the government's list, "hari libur nasional dan cuti
bersama").

Roster (`pegawai,tanggal,shift[,lokasi]`): one line per employee per day, naming a shift of the
rules or `libur` (a day off), and optionally the one attendance point assigned that day. A line
replaces what an earlier import said for that employee and day. A group with `roster = true`
works only the days the roster names; anyone else's line overrides their group's shift that day.

Holidays (`tanggal,nama`): the imported list replaces the imported holidays of the years it
covers; the rules file's [holidays] still count.

Both are checked whole first: every problem is named with its line and nothing is stored if
there is one. Each import is in the audit trail and marks the days it changes for derivation.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from presensi.hub.attendance.derive import Assignment
from presensi.hub.attendance.marks import mark_day, mark_range
from presensi.hub.attendance.rules import Rules

if TYPE_CHECKING:
    from presensi.hub.store import Database

DAY_OFF = "libur"
ROSTER_COLUMNS = ("pegawai", "tanggal", "shift")
ROSTER_OPTIONAL = ("lokasi",)
HOLIDAY_COLUMNS = ("tanggal", "nama")
MAX_LINES = 2_000_000  # a month of 60,000 crew members
MAX_PROBLEMS = 50  # shown at most; the count says how many there were


class ScheduleError(ValueError):
    """A roster or holiday file refused whole; `problems` are 'line N: what' texts."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS} more problems")
        super().__init__("\n".join(shown))
        self.problems = problems


@dataclass(frozen=True)
class RosterLine:
    employee: str
    day: dt.date
    shift: str | None  # None: a day off
    location: str | None


def _rows(
    data: str | bytes, required: Sequence[str], optional: Sequence[str]
) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, cells by column) of a CSV whose header names `required` columns (any
    order, and any of `optional`); ScheduleError for a header that does not."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ScheduleError([f"not UTF-8 text (byte {exc.start})"]) from None
    reader = csv.reader(io.StringIO(data.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ScheduleError(["line 1: empty file; the header is " + ",".join(required)]) from None
    except csv.Error as exc:
        raise ScheduleError([f"line 1: {exc}"]) from None
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in (*required, *optional)]
    if missing or unknown or len(set(header)) != len(header):
        what = ", ".join(
            [f"missing column {c!r}" for c in missing]
            + [f"unknown column {c!r}" for c in unknown]
            + (["a column named twice"] if len(set(header)) != len(header) else [])
        )
        raise ScheduleError([f"line 1: {what}; the header is {','.join((*required, *optional))}"])
    try:
        for number, cells in enumerate(reader, 2):
            if number > MAX_LINES + 1:
                raise ScheduleError([f"more than {MAX_LINES} lines: split the file"])
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield number, {"": f"{len(cells)} cells, the header has {len(header)}"}
                continue
            yield number, {h: c.strip() for h, c in zip(header, cells, strict=True)}
    except csv.Error as exc:
        raise ScheduleError([f"line {reader.line_num}: {exc}"]) from None


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def parse_roster(
    data: str | bytes, rules: Rules, employees: Iterable[str], locations: Iterable[str]
) -> list[RosterLine]:
    """The roster's lines, checked against the rules' shifts and the hub's employees and
    attendance points; ScheduleError naming every problem by line."""
    known, places = set(employees), set(locations)
    problems: list[str] = []
    seen: dict[tuple[str, dt.date], int] = {}
    lines: list[RosterLine] = []
    for number, row in _rows(data, ROSTER_COLUMNS, ROSTER_OPTIONAL):
        if "" in row:
            problems.append(f"line {number}: {row['']}")
            continue
        employee, day, shift = row["pegawai"], _date(row["tanggal"]), row["shift"]
        location = row.get("lokasi") or None
        bad = []
        if employee not in known:
            bad.append(f"unknown employee {employee!r}")
        if day is None:
            bad.append(f"{row['tanggal']!r} is not a date YYYY-MM-DD")
        if shift != DAY_OFF and shift not in rules.shifts:
            bad.append(
                f"unknown shift {shift!r} (the rules have {', '.join(sorted(rules.shifts))}, "
                f"or {DAY_OFF})"
            )
        if location is not None and location not in places:
            bad.append(f"unknown location {location!r}")
        if day is not None and (employee, day) in seen:
            bad.append(f"{employee} on {day} is already on line {seen[employee, day]}")
        if bad:
            problems.append(f"line {number}: {'; '.join(bad)}")
            continue
        assert day is not None
        seen[employee, day] = number
        lines.append(RosterLine(employee, day, None if shift == DAY_OFF else shift, location))
    if not lines and not problems:
        problems.append("no lines, only the header")
    if problems:
        raise ScheduleError(problems)
    return lines


def import_roster(db: Database, lines: Sequence[RosterLine], by: str, now_ms: int) -> int:
    """Store the roster's lines (each replacing the same employee's day), mark their days for
    derivation, audit it; how many lines."""
    with db.transaction():
        db.executemany(
            "INSERT INTO attendance_roster (employee, work_date, shift, location, imported_ms, "
            "imported_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (employee, work_date) DO UPDATE "
            "SET shift = excluded.shift, location = excluded.location, "
            "imported_ms = excluded.imported_ms, imported_by = excluded.imported_by",
            [
                (x.employee, x.day.isoformat(), x.shift or DAY_OFF, x.location, now_ms, by)
                for x in lines
            ],
        )
        for line in lines:
            mark_day(db, line.employee, line.day)
        first, last = min(x.day for x in lines), max(x.day for x in lines)
        _audit(db, by, "attendance.roster", f"{first}..{last}", f"{len(lines)} lines", now_ms)
    return len(lines)


def roster(
    db: Database, first: dt.date, last: dt.date, employees: Sequence[str] | None = None
) -> dict[tuple[str, dt.date], Assignment]:
    """The roster's lines from `first` to `last` (of `employees` only, if given)."""
    sql = (
        "SELECT employee, work_date, shift, location FROM attendance_roster "
        "WHERE work_date >= ? AND work_date <= ?"
    )
    params: list[object] = [first.isoformat(), last.isoformat()]
    found: dict[tuple[str, dt.date], Assignment] = {}
    chunks = (
        [None]
        if employees is None
        else [employees[i : i + 500] for i in range(0, len(employees), 500)]
    )
    for chunk in chunks:
        if chunk is not None and not chunk:
            continue
        where = "" if chunk is None else f" AND employee IN ({', '.join('?' for _ in chunk)})"
        for r in db.execute(sql + where, (*params, *(chunk or ()))):
            shift = None if r[2] == DAY_OFF else str(r[2])
            found[str(r[0]), dt.date.fromisoformat(str(r[1]))] = Assignment(
                shift, None if r[3] is None else str(r[3])
            )
    return found


# -- holidays --------------------------------------------------------------------------------


def parse_holidays(data: str | bytes) -> dict[dt.date, str]:
    """The holidays of a `tanggal,nama` CSV; ScheduleError naming every problem by line."""
    problems: list[str] = []
    found: dict[dt.date, str] = {}
    for number, row in _rows(data, HOLIDAY_COLUMNS, ()):
        if "" in row:
            problems.append(f"line {number}: {row['']}")
            continue
        day, name = _date(row["tanggal"]), row["nama"]
        if day is None:
            problems.append(f"line {number}: {row['tanggal']!r} is not a date YYYY-MM-DD")
        elif not name or len(name) > 200:
            problems.append(f"line {number}: the name must be 1 to 200 characters")
        elif day in found:
            problems.append(f"line {number}: {day} is listed twice")
        else:
            found[day] = name
    if not found and not problems:
        problems.append("no holidays, only the header")
    if problems:
        raise ScheduleError(problems)
    return found


def import_holidays(
    db: Database, holidays: dict[dt.date, str], by: str, now_ms: int
) -> tuple[int, int]:
    """Make `holidays` the imported holidays of the years they cover (others of those years
    are removed); the changed dates are derived again. (added or renamed, removed)."""
    years = sorted({d.year for d in holidays})
    with db.transaction():
        before = {d: n for d, n in _imported(db).items() if d.year in years}
        gone = sorted(set(before) - set(holidays))
        changed = sorted(d for d, n in holidays.items() if before.get(d) != n)
        db.executemany(
            "DELETE FROM attendance_holidays WHERE day = ?", [(d.isoformat(),) for d in gone]
        )
        db.executemany(
            "INSERT INTO attendance_holidays (day, name, imported_ms, imported_by) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET name = excluded.name, "
            "imported_ms = excluded.imported_ms, imported_by = excluded.imported_by",
            [(d.isoformat(), holidays[d], now_ms, by) for d in changed],
        )
        for day in sorted({*gone, *changed}):
            mark_range(db, day, day, own_transaction=False)
        _audit(
            db,
            by,
            "attendance.holidays",
            ",".join(map(str, years)),
            f"{len(changed)} added or renamed, {len(gone)} removed",
            now_ms,
        )
    return len(changed), len(gone)


def _imported(db: Database) -> dict[dt.date, str]:
    rows = db.execute("SELECT day, name FROM attendance_holidays")
    return {dt.date.fromisoformat(str(r[0])): str(r[1]) for r in rows}


def imported_holidays(db: Database) -> tuple[tuple[int, int], dict[dt.date, str]]:
    """A stamp that changes with every import (count, newest import), and the holidays."""
    stamp = db.execute("SELECT COUNT(*), MAX(imported_ms) FROM attendance_holidays")[0]
    return (int(stamp[0]), int(stamp[1] or 0)), _imported(db)


def _audit(db: Database, actor: str, action: str, subject: str, detail: str, now_ms: int) -> None:
    db.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail, address) "
        "VALUES (?, ?, ?, ?, ?, '')",
        (now_ms, actor, action, subject, detail),
    )
