"""Events: roll calls (apel), ceremonies (upacara), meetings (rapat), trainings: when, where,
which stations take the scans, who is expected, and whether walk-ins count. Stored in the hub;
each change is checked whole first (a window that is empty or overlaps another event on the same
stations is refused, naming it) and written with its audit entry in one transaction.

A recurring event (every Monday's apel) is a series: one event per date, ids `<series>-<date>`,
made at once up to an end date; one date can be cancelled without touching the others.
Times are local to the event's zone (WIB by default); the store keeps Unix ms.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from presensi.hub.store import Database

KINDS = ("apel", "upacara", "rapat", "pelatihan", "lainnya")
EVENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,52}")  # a series' id leaves room for "-YYYY-MM-DD"
ANY_EVENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # a stored one: a series' dates included
MAX_EXPECTED = 200_000  # people expected at one event, at most
MINUTE_MS = 60_000


class EventError(ValueError):
    """An event refused, nothing changed. The message says why in English (the command line
    prints it); `problems` name each reason for the console, which shows them in the reader's
    language (its catalogues' `event_problem.<key>`)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


Problem = tuple[str, dict[str, object]]  # (key, fields)


def _problem(out: list[tuple[str, Problem]], key: str, english: str, **fields: object) -> None:
    out.append((english, (key, fields)))


@dataclass(frozen=True)
class Event:
    id: str
    name: str
    kind: str
    starts_ms: int  # scans count from here ...
    late_ms: int  # ... arriving after this is late (terlambat) ...
    ends_ms: int  # ... up to here
    venue: str  # an attendance point's id, or the name of an ad-hoc place
    location: str | None  # the attendance point, if the venue is one
    timezone: str
    walk_ins: bool  # people not expected who come are counted (as walk-ins)
    stations: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # whole units (OPD) expected
    employees: tuple[str, ...] = ()  # people expected by name (an imported list)
    series: str | None = None
    cancelled: bool = False

    @property
    def open(self) -> bool:
        """No one in particular expected: everyone who comes is counted."""
        return not self.units and not self.employees

    def local(self, ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Plan:
    """What an admin asks for: an event, or a series of them."""

    id: str
    name: str
    kind: str
    day: dt.date
    start: dt.time
    late: dt.time
    end: dt.time
    venue: str
    stations: tuple[str, ...]
    units: tuple[str, ...] = ()
    employees: tuple[str, ...] = ()
    walk_ins: bool = True
    timezone: str = "Asia/Jakarta"
    repeat_until: dt.date | None = None  # weekly on the same weekday, up to this date


def _at(day: dt.date, time: dt.time, zone: str) -> int:
    return int(dt.datetime.combine(day, time, zoneinfo.ZoneInfo(zone)).timestamp() * 1000)


def plan_events(db: Database, plan: Plan) -> list[Event]:
    """The events `plan` makes (one, or one per week of a series), checked against the store:
    EventError naming every problem at once."""
    problems = _problems(db, plan)
    days = [plan.day]
    if plan.repeat_until is not None:
        if plan.repeat_until < plan.day or (plan.repeat_until - plan.day).days > 366:
            _problem(
                problems, "until", "--until must be after the first date, and within a year of it"
            )
        else:
            while days[-1] + dt.timedelta(days=7) <= plan.repeat_until:
                days.append(days[-1] + dt.timedelta(days=7))
    if problems:
        raise EventError("; ".join(e for e, _ in problems), [p for _, p in problems])
    series = plan.id if plan.repeat_until is not None else None
    places = {str(r[0]) for r in db.execute("SELECT id FROM locations")}
    events = [
        Event(
            f"{plan.id}-{day.isoformat()}" if series else plan.id,
            plan.name,
            plan.kind,
            _at(day, plan.start, plan.timezone),
            _at(day, plan.late, plan.timezone),
            _at(day, plan.end, plan.timezone),
            plan.venue,
            plan.venue if plan.venue in places else None,
            plan.timezone,
            plan.walk_ins,
            tuple(sorted(set(plan.stations))),
            tuple(sorted(set(plan.units))),
            tuple(sorted(set(plan.employees))),
            series,
        )
        for day in days
    ]
    for event in events:
        _check_free(db, event)
    return events


def _problems(db: Database, plan: Plan) -> list[tuple[str, Problem]]:
    out: list[tuple[str, Problem]] = []
    if not EVENT_ID.fullmatch(plan.id):
        _problem(out, "id", f"id {plan.id!r}: use 1-53 small letters, digits and '-'", id=plan.id)
    if plan.kind not in KINDS:
        _problem(out, "kind", f"kind {plan.kind!r}: one of {', '.join(KINDS)}", kind=plan.kind)
    if not plan.name.strip() or len(plan.name) > 200:
        _problem(out, "name", "the name must be 1 to 200 characters")
    if not plan.start < plan.end:
        start, end = f"{plan.start:%H:%M}", f"{plan.end:%H:%M}"
        _problem(
            out, "empty", f"the window is empty: {start} is not before {end}", start=start, end=end
        )
    elif not plan.start <= plan.late <= plan.end:
        late = f"{plan.late:%H:%M}"
        _problem(out, "late", f"the late threshold {late} is outside the window", late=late)
    try:
        zoneinfo.ZoneInfo(plan.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        _problem(out, "zone", f"unknown time zone {plan.timezone!r}", zone=plan.timezone)
    if not plan.stations:
        _problem(out, "no_station", "name the stations that take the scans (--station)")
    _unknown(db, plan, out)
    if len(plan.employees) > MAX_EXPECTED:
        _problem(out, "too_many", f"more than {MAX_EXPECTED} people expected", n=MAX_EXPECTED)
    if not plan.venue.strip() or len(plan.venue) > 200:
        _problem(out, "venue", "the venue must be an attendance point's id or a place's name")
    return out


def _unknown(db: Database, plan: Plan, out: list[tuple[str, Problem]]) -> None:
    known = {str(r[0]) for r in db.execute("SELECT id FROM stations")}
    for s in plan.stations:
        if s not in known:
            _problem(out, "station", f"unknown station {s!r}", station=s)
    units = {str(r[0]) for r in db.execute("SELECT DISTINCT unit FROM employees")}
    for u in plan.units:
        if u not in units:
            _problem(out, "unit", f"unknown unit {u!r}", unit=u)


def _check_free(db: Database, event: Event, *, ignore: str | None = None) -> None:
    """EventError if the id is taken, or another event (not cancelled) overlaps this one's
    window on one of its stations: a scan there could not be told whose it is."""
    if ignore is None and db.execute("SELECT 1 FROM events WHERE id = ?", (event.id,)):
        raise EventError(f"an event {event.id!r} exists already", [("exists", {"id": event.id})])
    marks = ", ".join("?" for _ in event.stations)
    rows = db.execute(
        "SELECT DISTINCT e.id, s.station FROM events e JOIN event_stations s ON s.event = e.id "  # noqa: S608
        f"WHERE s.station IN ({marks}) AND e.cancelled_ms IS NULL AND e.starts_ms < ? "
        "AND e.ends_ms > ? AND e.id <> ?",
        (*event.stations, event.ends_ms, event.starts_ms, ignore or ""),
    )
    if rows:
        other, station = rows[0]
        raise EventError(
            f"{event.id}: its window overlaps event {other!r} on station {station!r}; "
            "move one of them, or give them different stations",
            [("overlap", {"other": other, "station": station})],
        )


def add_events(db: Database, events: Sequence[Event], by: str, now_ms: int) -> None:
    """Store `events` (from plan_events) with one audit entry, in one transaction."""
    with db.transaction():
        for event in events:
            _check_free(db, event)
            db.execute(
                "INSERT INTO events (id, name, kind, starts_ms, late_ms, ends_ms, venue, location, "
                "timezone, walk_ins, series, created_ms, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id, event.name, event.kind, event.starts_ms, event.late_ms,
                    event.ends_ms, event.venue, event.location, event.timezone, event.walk_ins,
                    event.series, now_ms, by,
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO event_stations (event, station) VALUES (?, ?)",
                [(event.id, s) for s in event.stations],
            )
            db.executemany(
                "INSERT INTO event_expected (event, kind, value) VALUES (?, ?, ?)",
                [(event.id, "unit", u) for u in event.units]
                + [(event.id, "employee", e) for e in event.employees],
            )
        first = events[0]
        what = f"{len(events)} events" if len(events) > 1 else first.name
        _audit(db, by, "event.add", first.series or first.id, what, now_ms)


def get(db: Database, event_id: str) -> Event | None:
    found = _events(db, "WHERE id = ?", (event_id,))
    return found[0] if found else None


def between(db: Database, from_ms: int, to_ms: int, *, cancelled: bool = True) -> list[Event]:
    """Events whose window meets [from_ms, to_ms), earliest first."""
    where = "WHERE starts_ms < ? AND ends_ms > ?" + (
        "" if cancelled else " AND cancelled_ms IS NULL"
    )
    return _events(db, where, (to_ms, from_ms))


def _events(db: Database, where: str, params: tuple[object, ...]) -> list[Event]:
    rows = db.execute(
        "SELECT id, name, kind, starts_ms, late_ms, ends_ms, venue, location, timezone, "  # noqa: S608
        f"walk_ins, series, cancelled_ms FROM events {where} ORDER BY starts_ms, id",
        params,
    )
    if not rows:
        return []
    ids = [str(r[0]) for r in rows]
    marks = ", ".join("?" for _ in ids)
    stations: dict[str, list[str]] = {i: [] for i in ids}
    for event, station in db.execute(
        f"SELECT event, station FROM event_stations WHERE event IN ({marks}) ORDER BY station",  # noqa: S608
        tuple(ids),
    ):
        stations[str(event)].append(str(station))
    expected: dict[str, dict[str, list[str]]] = {i: {"unit": [], "employee": []} for i in ids}
    for event, kind, value in db.execute(
        f"SELECT event, kind, value FROM event_expected WHERE event IN ({marks}) ORDER BY value",  # noqa: S608
        tuple(ids),
    ):
        expected[str(event)][str(kind)].append(str(value))
    return [
        Event(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            int(r[3]),
            int(r[4]),
            int(r[5]),
            str(r[6]),
            None if r[7] is None else str(r[7]),
            str(r[8]),
            bool(r[9]),
            tuple(stations[str(r[0])]),
            tuple(expected[str(r[0])]["unit"]),
            tuple(expected[str(r[0])]["employee"]),
            None if r[10] is None else str(r[10]),
            r[11] is not None,
        )
        for r in rows
    ]


def cancel(db: Database, event_id: str, by: str, now_ms: int) -> Event:
    with db.transaction():
        event = get(db, event_id)
        if event is None:
            raise EventError(f"no event {event_id!r}")
        if event.cancelled:
            raise EventError(f"{event_id} is cancelled already")
        db.execute("UPDATE events SET cancelled_ms = ? WHERE id = ?", (now_ms, event_id))
        _audit(db, by, "event.cancel", event_id, event.name, now_ms)
    return event


def change_window(
    db: Database,
    event_id: str,
    *,
    start: dt.time | None,
    late: dt.time | None,
    end: dt.time | None,
    by: str,
    now_ms: int,
) -> Event:
    """Move an event's window (even after it started: its statuses are computed from the scans
    each time they are read, so they follow), with an audit entry saying from what to what."""
    with db.transaction():
        event = get(db, event_id)
        if event is None:
            raise EventError(f"no event {event_id!r}")
        day = event.local(event.starts_ms).date()
        tz = event.timezone
        moved = Event(
            event.id, event.name, event.kind,
            _at(day, start, tz) if start else event.starts_ms,
            _at(day, late, tz) if late else event.late_ms,
            _at(day, end, tz) if end else event.ends_ms,
            event.venue, event.location, tz, event.walk_ins, event.stations, event.units,
            event.employees, event.series, event.cancelled,
        )  # fmt: skip
        if not moved.starts_ms < moved.ends_ms:
            raise EventError("the window is empty")
        if not moved.starts_ms <= moved.late_ms <= moved.ends_ms:
            raise EventError("the late threshold is outside the window")
        _check_free(db, moved, ignore=event.id)
        db.execute(
            "UPDATE events SET starts_ms = ?, late_ms = ?, ends_ms = ? WHERE id = ?",
            (moved.starts_ms, moved.late_ms, moved.ends_ms, event.id),
        )

        def span(e: Event) -> str:
            return " ".join(f"{e.local(ms):%H:%M}" for ms in (e.starts_ms, e.late_ms, e.ends_ms))

        started = " (after it started)" if now_ms >= event.starts_ms else ""
        _audit(db, by, "event.window", event.id, f"{span(event)} -> {span(moved)}{started}", now_ms)
    return moved


def excuse(db: Database, event_id: str, employee: str, reason: str, by: str, now_ms: int) -> None:
    """Izin: the employee is excused from the event, with a reason (audited)."""
    if not reason.strip() or len(reason) > 500:
        raise EventError("izin needs a reason (1 to 500 characters)", [("reason", {})])
    from presensi.hub.events.results import expected  # (results reads events: imported late)

    with db.transaction():
        event = get(db, event_id)
        if event is None:
            raise EventError(f"no event {event_id!r}", [("no_event", {"id": event_id})])
        if not db.execute("SELECT 1 FROM employees WHERE number = ?", (employee,)):
            raise EventError(
                f"unknown employee {employee!r}", [("no_employee", {"employee": employee})]
            )
        # izin is leave from an event one is expected at; anyone else's would show nowhere
        if event.open:
            raise EventError(
                f"{event_id} expects no one in particular: izin does not apply",
                [("open", {"id": event_id})],
            )
        if employee not in expected(db, event):
            raise EventError(
                f"{employee} is not expected at {event_id}: izin does not apply",
                [("not_expected", {"employee": employee, "id": event_id})],
            )
        db.execute(
            "INSERT INTO event_excused (event, employee, reason, excused_by, excused_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (event, employee) DO UPDATE SET "
            "reason = excluded.reason, excused_by = excluded.excused_by, "
            "excused_ms = excluded.excused_ms",
            (event_id, employee, reason.strip(), by, now_ms),
        )
        _audit(db, by, "event.excuse", f"{event_id} {employee}", reason.strip(), now_ms)


def parse_participants(data: str | bytes, known: set[str]) -> tuple[list[str], list[str]]:
    """An imported participants list: one employee number per line (a header `pegawai` or
    `nomor` may lead; more columns are ignored). Returns (known numbers, unknown ones): the
    unknown are listed to the admin, never silently dropped."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    found: list[str] = []
    unknown: list[str] = []
    for n, line in enumerate(text.splitlines()):
        number = line.split(",")[0].strip().strip('"')
        if not number or (n == 0 and number.lower() in ("pegawai", "nomor", "number")):
            continue
        (found if number in known else unknown).append(number)
    return sorted(set(found)), sorted(set(unknown))


def _audit(db: Database, actor: str, action: str, subject: str, detail: str, now_ms: int) -> None:
    db.execute(
        "INSERT INTO audit (at_ms, actor, action, subject, detail, address) "
        "VALUES (?, ?, ?, ?, ?, '')",
        (now_ms, actor, action, subject, detail),
    )
