"""What the attendance pages and exports show: each person's day (present with codes, absent,
off, still going), marked provisional while a station that could hold one of their scans has
not delivered past the end of the day's windows, and the monthly recap ("rekap") per person.

Complete or provisional: a station's delivered watermark is the time up to which the hub holds
everything it scanned: its last report if its backlog was empty then, else just before its
oldest unsent scan. A location is complete up to the lowest watermark of its stations. A day
with both punches is provisional while its windows end after that of the locations it was
punched at (an earlier check-in or a later check-out could only come from a station still
sending); a day with a punch missing, and an absence, while any location is not complete past
the day's windows: the missing scan may be waiting in any station. So a station that is down
keeps people provisional, never absent, until it delivers or is retired.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from presensi.hub.attendance.corrections import Correction, corrections
from presensi.hub.attendance.days import stored_days
from presensi.hub.attendance.derive import MINUTE_MS, Day, at_local, shift_on
from presensi.hub.attendance.marks import DAY_MS
from presensi.hub.attendance.rules import Rules
from presensi.hub.attendance.schedule import roster
from presensi.hub.badges import REVOKED_BEFORE_SCAN

if TYPE_CHECKING:
    from presensi.hub.store import Database

State = Literal["hadir", "absen", "libur", "berlangsung", "sebelum"]


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    unit: str
    shift_group: str


@dataclass(frozen=True)
class DayLine:
    person: Person
    work_date: dt.date
    state: State
    shift: str | None
    codes: tuple[str, ...]  # () on a day off or while it is still going
    deduction: float
    provisional: bool
    day: Day | None  # the derived day (punch times, minutes, locations), if any punch
    manual: bool = False  # a correction set the status or a time

    @property
    def exception(self) -> bool:
        """What a daily exception list shows: late, early, missing, absent, provisional (not
        a day a person has decided by a correction)."""
        if self.manual and not self.provisional:
            return False
        return (
            self.provisional
            or self.state == "absen"
            or (self.state == "hadir" and self.codes != ("H",))
            or (self.day is not None and bool(self.day.flags))
        )


@dataclass(frozen=True)
class RecapLine:
    person: Person
    work_days: int
    counts: dict[str, int]  # days per code
    provisional: int  # days not yet final
    deduction: float  # percent, the days' deductions summed


@dataclass(frozen=True)
class Completeness:
    """Per location, the time up to which the hub holds every scan (Unix ms)."""

    upto: dict[str, int] = field(default_factory=dict)

    def complete(self, locations: Sequence[str], at_ms: int) -> bool:
        wanted = locations or list(self.upto)
        return all(self.upto.get(loc, at_ms) >= at_ms for loc in wanted)


def completeness(db: Database) -> Completeness:
    rows = db.execute(
        "SELECT location, backlog, last_seen_ms, telemetry_json FROM stations "
        "WHERE location IS NOT NULL AND location <> ''"
    )
    upto: dict[str, int] = {}
    for location, backlog, last_seen, telemetry in rows:
        mark = int(last_seen or 0)
        if backlog:
            oldest = json.loads(telemetry).get("oldest_unacked_ms") if telemetry else None
            mark = int(oldest) - 1 if oldest else 0
        upto[str(location)] = min(upto.get(str(location), mark), mark)
    return Completeness(upto)


def people(db: Database, units: Sequence[str] = (), unit: str | None = None) -> list[Person]:
    where, params = ["active = TRUE"], []
    chosen = [unit] if unit is not None else list(units)
    if unit is not None and units and unit not in units:
        return []
    if chosen:
        where.append(f"unit IN ({', '.join('?' for _ in chosen)})")
        params.extend(chosen)
    rows = db.execute(
        f"SELECT number, name, unit, shift_group FROM employees WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY unit, name, number",
        tuple(params),
    )
    return [Person(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def units(db: Database) -> list[str]:
    rows = db.execute("SELECT DISTINCT unit FROM employees WHERE active = TRUE ORDER BY unit")
    return [str(r[0]) for r in rows]


class _Month:
    """The derived days and completeness a report needs, read once."""

    def __init__(
        self, db: Database, first: dt.date, last: dt.date, employee: str | None = None
    ) -> None:
        found = stored_days(db, first, last, employee)
        self.days = {(d.employee, d.work_date): d for d in found}
        self.roster = roster(db, first, last, None if employee is None else [employee])
        self.complete = completeness(db)
        self.fixed: dict[tuple[str, dt.date], Correction] = {}
        for c in corrections(db, first, last):
            if c.approved and (c.code is not None or (c.employee, c.work_date) not in self.fixed):
                self.fixed[c.employee, c.work_date] = c  # the newest status correction wins
        # attendance starts with the hub's records: no one is absent before the first scan
        earliest = db.execute("SELECT MIN(wall_ms) FROM scans")[0][0]
        self.earliest_ms = None if earliest is None else int(earliest)

    def line(self, rules: Rules, person: Person, day: dt.date, now_ms: int) -> DayLine:
        computed = self._computed(rules, person, day, now_ms)
        fixed = self.fixed.get((person.number, day))
        if fixed is None:
            return computed
        if fixed.code is None:  # a time set by hand: the derivation used it
            return dataclasses.replace(computed, manual=True)
        codes = (fixed.code,)
        state: State = "hadir" if fixed.code == rules.present or computed.day else "absen"
        return dataclasses.replace(
            computed,
            state=state,
            codes=codes,
            deduction=rules.deduction(codes),
            provisional=False,
            manual=True,
        )

    def _computed(self, rules: Rules, person: Person, day: dt.date, now_ms: int) -> DayLine:
        derived = self.days.get((person.number, day))
        group = rules.group_of(person.shift_group)
        assigned = self.roster.get((person.number, day))
        shift = None if group is None else shift_on(rules, group, day, assigned)
        if derived is not None:
            going = now_ms < derived.window_end_ms
            both = derived.first_in_ms is not None and derived.last_out_ms is not None
            where = derived.locations if both else ()  # (): every location
            provisional = going or not self.complete.complete(where, derived.window_end_ms)
            codes = () if going else derived.codes
            return DayLine(
                person,
                day,
                "berlangsung" if going else "hadir",
                derived.shift,
                codes,
                rules.deduction(codes),
                provisional,
                derived,
            )
        if shift is None or group is None:
            return DayLine(person, day, "libur", None, (), 0.0, False, None)
        if self.earliest_ms is None or day < _local_date(self.earliest_ms, group.timezone):
            return DayLine(person, day, "sebelum", shift.name, (), 0.0, False, None)
        start = at_local(day, shift.start_min, group.timezone)
        end = start + shift.length_min * MINUTE_MS
        window_end = max(
            start + shift.in_window[1] * MINUTE_MS, end + shift.out_window[1] * MINUTE_MS
        )
        if now_ms < window_end:
            return DayLine(person, day, "berlangsung", shift.name, (), 0.0, True, None)
        provisional = not self.complete.complete((), window_end)
        codes = (rules.absent,)
        return DayLine(
            person, day, "absen", shift.name, codes, rules.deduction(codes), provisional, None
        )


def _local_date(ms: int, zone: str) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(zone)).date()


def daily(
    db: Database, rules: Rules, day: dt.date, persons: Sequence[Person], now_ms: int
) -> tuple[list[DayLine], Completeness]:
    month = _Month(db, day, day)
    return [month.line(rules, p, day, now_ms) for p in persons], month.complete


def recap(
    db: Database,
    rules: Rules,
    first: dt.date,
    last: dt.date,
    persons: Sequence[Person],
    now_ms: int,
) -> list[RecapLine]:
    """Each person's month (or any range): work days, days per code, provisional days, the
    deductions summed. Days still going, and days before the hub's first scan, are not
    counted."""
    month = _Month(db, first, last)
    out: list[RecapLine] = []
    span = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    missed = missed_events(db, first, last, now_ms) if rules.missed_event else Counter()
    for person in persons:
        counts: Counter[str] = Counter()
        work = provisional = 0
        deduction = 0.0
        for day in span:
            line = month.line(rules, person, day, now_ms)
            if line.state in ("libur", "berlangsung", "sebelum"):
                continue
            work += 1
            provisional += line.provisional
            counts.update(line.codes)
            deduction += line.deduction
        if rules.missed_event and missed[person.number]:
            counts[rules.missed_event] += missed[person.number]
            deduction += missed[person.number] * rules.codes[rules.missed_event].deduction
        out.append(RecapLine(person, work, dict(counts), provisional, round(deduction, 2)))
    return out


def person_month(
    db: Database, rules: Rules, person: Person, first: dt.date, last: dt.date, now_ms: int
) -> list[DayLine]:
    """One person's days from `first` to `last` (an employee's month as a calendar)."""
    month = _Month(db, first, last, person.number)
    span = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    return [month.line(rules, person, day, now_ms) for day in span]


def missed_events(db: Database, first: dt.date, last: dt.date, now_ms: int) -> Counter[str]:
    """Per employee, the events (apel, upacara ...) from `first` to `last` (the events' own
    dates) that they were expected at, that are over, and that they missed without izin."""
    from presensi.hub.events import model, results

    low = int(dt.datetime.combine(first, dt.time(), dt.UTC).timestamp() * 1000) - DAY_MS
    high = int(dt.datetime.combine(last, dt.time(), dt.UTC).timestamp() * 1000) + 2 * DAY_MS
    missed: Counter[str] = Counter()
    for event in model.between(db, low, high, cancelled=False):
        if now_ms < event.ends_ms or not first <= event.local(event.starts_ms).date() <= last:
            continue
        board = results.board(db, event, now_ms)
        missed.update(a.number for a in board.attendees if a.expected and a.status == "tidak_hadir")
    return missed


@dataclass(frozen=True)
class Checkin:
    employee: str
    at_ms: int  # the hub's corrected time where a station's clock was off
    direction: str  # "in" or "out": as the hub counted it (see checkins)
    station: str
    location: str


def checkins(
    db: Database, from_ms: int, to_ms: int, persons: Sequence[Person] | None = None
) -> list[Checkin]:
    """The punches attendance counts (accepted, not made with a badge revoked before, not at
    an event), made from `from_ms` up to `to_ms`, oldest first; of `persons` only if given.
    A punch that is a work day's check-in is "in" and one that is its check-out "out",
    whatever the station guessed (a station in auto mode calls a night shift's check-out
    after midnight "in"); any other keeps the station's direction."""
    rows = db.execute(
        "SELECT s.employee, COALESCE(s.corrected_wall_ms, s.wall_ms), s.direction, s.station, "  # noqa: S608
        "s.location FROM scans s WHERE s.outcome = 'accepted' AND s.employee IS NOT NULL "
        "AND s.direction IN ('in', 'out') "
        f"AND s.wall_ms >= ? AND s.wall_ms < ? AND NOT {REVOKED_BEFORE_SCAN} "
        "ORDER BY s.wall_ms, s.station, s.seq",
        (from_ms, to_ms),
    )
    wanted = None if persons is None else {p.number for p in persons}
    counted = _counted_as(db, from_ms, to_ms)
    return [
        Checkin(
            str(r[0]),
            int(r[1]),
            counted.get((str(r[0]), int(r[1])), str(r[2])),
            str(r[3]),
            str(r[4]),
        )
        for r in rows
        if wanted is None or str(r[0]) in wanted
    ]


def _counted_as(db: Database, from_ms: int, to_ms: int) -> dict[tuple[str, int], str]:
    """(employee, time) -> "in" / "out" of the work days' check-ins and check-outs near the
    range (a work day is the local date its shift starts on: two days either side)."""
    two = dt.timedelta(days=2)
    first, last = _utc_date(from_ms), _utc_date(to_ms)
    first = first - two if first > dt.date.min + two else dt.date.min
    last = last + two if last < dt.date.max - two else dt.date.max
    found: dict[tuple[str, int], str] = {}
    for employee, first_in, last_out in db.execute(
        "SELECT employee, first_in_ms, last_out_ms FROM attendance_days "
        "WHERE work_date >= ? AND work_date <= ?",
        (first.isoformat(), last.isoformat()),
    ):
        if first_in is not None:
            found[str(employee), int(first_in)] = "in"
        if last_out is not None:
            found[str(employee), int(last_out)] = "out"
    return found


_LAST_MS = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp() * 1000)


def _utc_date(ms: int) -> dt.date:
    """The UTC date of `ms`, held to 1970-01-01 .. 9999-12-31 (an API caller may ask for any
    range)."""
    return dt.datetime.fromtimestamp(min(max(ms, 0), _LAST_MS) / 1000, dt.UTC).date()
