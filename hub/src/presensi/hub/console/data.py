"""What the console reads and writes in the hub's store: its users, the audit trail, and the
views of scans, stations and rejects its pages show. One connection of its own (the ingest
workers keep theirs); calls are serialised. Errors are StoreError, as everywhere in the store."""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from presensi.hub import badges, people, phones, places, telemetry
from presensi.hub.attendance import corrections, reports
from presensi.hub.attendance.days import RulesInForce
from presensi.hub.attendance.derive import at_local, shift_on, windows
from presensi.hub.attendance.rules import Rules
from presensi.hub.attendance.schedule import roster
from presensi.hub.badges import Badge
from presensi.hub.errors import StoreError
from presensi.hub.events import model as event_model
from presensi.hub.events import results as event_results
from presensi.hub.events.model import Event
from presensi.hub.events.results import Board
from presensi.hub.people import Person
from presensi.hub.places import Place
from presensi.hub.telemetry import Sample
from presensi.protocol.keys import SigningKey

if TYPE_CHECKING:
    from presensi.hub.store import Database

ROLES = ("admin", "operator", "viewer")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    units: tuple[str, ...]  # a viewer limited to these units' people; empty: all
    session_epoch: int
    created_ms: int
    disabled: bool


@dataclass(frozen=True)
class ApiToken:
    name: str
    role: str
    units: tuple[str, ...]
    created_ms: int
    revoked_ms: int | None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at_ms: int
    actor: str
    action: str
    subject: str
    detail: str
    address: str


@dataclass(frozen=True)
class ScanView:
    """A committed scan as the console lists it."""

    station: str
    journal: str
    fork: int
    seq: int
    employee: str | None
    outcome: str
    reason: str
    direction: str
    location: str
    wall_ms: int
    corrected_wall_ms: int | None
    clock_synced: bool
    received_ms: int
    name: str | None = None  # the employee's name, when the hub knows it

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.station, self.journal, self.fork, self.seq)

    @property
    def arrival(self) -> tuple[int, str, str, int, int]:
        """Where it sits in arrival order (the live feed's cursor)."""
        return (self.received_ms, self.station, self.journal, self.fork, self.seq)

    @property
    def shown_ms(self) -> int:
        """The time to show: the hub's correction of an unsynced clock, if it made one."""
        return self.corrected_wall_ms if self.corrected_wall_ms is not None else self.wall_ms


@dataclass(frozen=True)
class RejectView:
    id: int
    received_ms: int
    topic: str
    station: str | None
    seq: int | None
    reason: str
    detail: str | None


_SCAN_COLUMNS = (
    "s.station, s.journal, s.fork, s.seq, s.employee, s.outcome, s.reason, s.direction, "
    "s.location, s.wall_ms, s.corrected_wall_ms, s.clock_synced, s.received_ms, e.name"
)
_SCANS = "scans s LEFT JOIN employees e ON e.number = s.employee"


def _optional(cell: object) -> int | None:
    return None if cell is None else int(str(cell))


def _units(cell: object) -> tuple[str, ...]:
    """The units a user or token is limited to, as stored (comma-separated; empty: all)."""
    return tuple(u for u in str(cell).split(",") if u)


def _scan(row: Sequence[Any]) -> ScanView:
    return ScanView(
        str(row[0]),
        str(row[1]),
        int(row[2]),
        int(row[3]),
        None if row[4] is None else str(row[4]),
        str(row[5]),
        str(row[6]),
        str(row[7]),
        str(row[8]),
        int(row[9]),
        None if row[10] is None else int(row[10]),
        bool(row[11]),
        int(row[12]),
        None if row[13] is None else str(row[13]),
    )


class ConsoleData:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._rules = RulesInForce()

    def _q(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params)

    def ping(self) -> None:
        self._q("SELECT 1")

    # -- users -----------------------------------------------------------------------------

    def add_user(
        self, name: str, role: str, password_hash: str, *, units: Sequence[str], now_ms: int
    ) -> None:
        if role not in ROLES:
            raise StoreError(f"role {role!r}: use {', '.join(ROLES)}")
        with self._lock, self._db.transaction():
            if self._db.execute("SELECT 1 FROM console_users WHERE name = ?", (name,)):
                raise StoreError(f"user {name!r} exists already")
            self._db.execute(
                "INSERT INTO console_users (name, role, password_hash, units, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, role, password_hash, ",".join(units), now_ms),
            )

    def set_password(self, name: str, password_hash: str) -> None:
        """A new password ends every session of the user (the epoch moves on)."""
        with self._lock, self._db.transaction():
            done = self._db.execute(
                "UPDATE console_users SET password_hash = ?, session_epoch = session_epoch + 1 "
                "WHERE name = ? RETURNING name",
                (password_hash, name),
            )
        if not done:
            raise StoreError(f"no user {name!r}")

    def end_sessions(self, name: str) -> None:
        """Log the user out everywhere: a session cookie made before now no longer counts, even
        one kept (or copied) after logging out (its signature alone would still be good)."""
        with self._lock, self._db.transaction():
            self._db.execute(
                "UPDATE console_users SET session_epoch = session_epoch + 1 WHERE name = ?",
                (name,),
            )

    def user(self, name: str) -> User | None:
        rows = self._q(
            "SELECT name, role, password_hash, units, session_epoch, created_ms, disabled "
            "FROM console_users WHERE name = ?",
            (name,),
        )
        if not rows:
            return None
        r = rows[0]
        return User(str(r[0]), str(r[1]), str(r[2]), _units(r[3]), int(r[4]), int(r[5]), bool(r[6]))

    def users(self) -> list[User]:
        names = [str(r[0]) for r in self._q("SELECT name FROM console_users ORDER BY name")]
        return [u for u in (self.user(n) for n in names) if u is not None]

    # -- API tokens ------------------------------------------------------------------------

    def add_api_token(
        self, name: str, role: str, digest: str, *, units: Sequence[str], now_ms: int
    ) -> None:
        if role not in ROLES:
            raise StoreError(f"role {role!r}: use {', '.join(ROLES)}")
        with self._lock, self._db.transaction():
            if self._db.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)):
                raise StoreError(f"token {name!r} exists already (revoke it first)")
            self._db.execute(
                "INSERT INTO api_tokens (name, role, units, token_sha256, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, role, ",".join(units), digest, now_ms),
            )

    def revoke_api_token(self, name: str, now_ms: int) -> None:
        with self._lock, self._db.transaction():
            if not self._db.execute(
                "UPDATE api_tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL "
                "RETURNING name",
                (now_ms, name),
            ):
                raise StoreError(f"no live token {name!r}")
            # the name is free again: a revoked token keeps its row under a dated name
            self._db.execute(
                "UPDATE api_tokens SET name = ? WHERE name = ?", (f"{name}@{now_ms}", name)
            )

    def api_token(self, digest: str) -> ApiToken | None:
        """The live token with this SHA-256, or None."""
        rows = self._q(
            "SELECT name, role, units, created_ms, revoked_ms FROM api_tokens "
            "WHERE token_sha256 = ? AND revoked_ms IS NULL",
            (digest,),
        )
        if not rows:
            return None
        r = rows[0]
        return ApiToken(str(r[0]), str(r[1]), _units(r[2]), int(r[3]), None)

    def api_tokens(self) -> list[ApiToken]:
        rows = self._q(
            "SELECT name, role, units, created_ms, revoked_ms FROM api_tokens ORDER BY name"
        )
        return [
            ApiToken(
                str(r[0]), str(r[1]), _units(r[2]), int(r[3]), None if r[4] is None else int(r[4])
            )
            for r in rows
        ]

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        *,
        now_ms: int,
        subject: str = "",
        detail: str = "",
        address: str = "",
    ) -> None:
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO audit (at_ms, actor, action, subject, detail, address) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now_ms, actor, action, subject, detail, address),
            )

    def audit_trail(self, limit: int = 200) -> list[AuditRow]:
        rows = self._q(
            "SELECT id, at_ms, actor, action, subject, detail, address FROM audit "
            "ORDER BY at_ms DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [AuditRow(int(r[0]), int(r[1]), *(str(x) for x in r[2:])) for r in rows]

    # -- scans -----------------------------------------------------------------------------

    def scans_arrived_after(
        self, after: tuple[int, str, str, int, int], limit: int = 2000
    ) -> list[ScanView]:
        """Committed scans after `after` in arrival order (received_ms, station, journal, fork,
        seq): the live feed pages through them with the last key it got."""
        rows = self._q(
            f"SELECT {_SCAN_COLUMNS} FROM {_SCANS} "  # noqa: S608
            "WHERE (s.received_ms, s.station, s.journal, s.fork, s.seq) > (?, ?, ?, ?, ?) "
            "ORDER BY s.received_ms, s.station, s.journal, s.fork, s.seq LIMIT ?",
            (*after, limit),
        )
        return [_scan(r) for r in rows]

    def recent_scans(
        self,
        *,
        station: str | None = None,
        location: str | None = None,
        employee: str | None = None,
        units: Sequence[str] = (),
        refused: bool = False,
        limit: int = 50,
    ) -> list[ScanView]:
        """The newest committed scans, optionally of one station, place or person, or of the
        people of `units` only (a unit head's view); `refused`: only badges a station refused
        as forged, foreign, revoked, expired or malformed (not QR codes that are no badge)."""
        where: list[str] = []
        params: list[object] = []
        if refused:
            where.append("s.outcome = 'rejected' AND s.reason <> 'not_a_badge'")
        for column, value in (
            ("s.station", station),
            ("s.location", location),
            ("s.employee", employee),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if units:
            where.append(f"e.unit IN ({', '.join('?' for _ in units)})")
            params.extend(units)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._q(
            f"SELECT {_SCAN_COLUMNS} FROM {_SCANS} {clause}"  # noqa: S608
            "ORDER BY s.received_ms DESC, s.seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_scan(r) for r in rows]

    def accepted_after_revocation(
        self, *, units: Sequence[str] = (), limit: int = 50
    ) -> list[ScanView]:
        """The newest scans accepted with a card or phone revoked before they were made (by a
        station that had not heard of the revocation yet), of `units`' people if given. The
        revoked serials are read first (a few, usually none) and their scans found by the
        serial's index: a query that tests every scan against them is planned badly by
        PostgreSQL (1.3 s at 1,000,000 scans)."""
        revoked = [int(r[0]) for r in self._q(badges.REVOKED_SINCE)]
        found: list[tuple[Any, ...]] = []
        unit_clause = f"AND e.unit IN ({', '.join('?' for _ in units)}) " if units else ""
        for k in range(0, len(revoked), 500):
            chunk = revoked[k : k + 500]
            found += self._q(
                f"SELECT {_SCAN_COLUMNS} FROM {_SCANS} "  # noqa: S608
                f"WHERE s.serial IN ({', '.join('?' for _ in chunk)}) "
                f"AND s.outcome = 'accepted' AND {badges.REVOKED_BEFORE_SCAN} {unit_clause}"
                "ORDER BY s.received_ms DESC, s.seq DESC LIMIT ?",
                (*chunk, *units, limit),
            )
        found.sort(key=lambda r: (int(r[12]), int(r[3])), reverse=True)  # received_ms, seq
        return [_scan(r) for r in found[:limit]]

    def scans_by_time(
        self,
        *,
        from_ms: int,
        to_ms: int,
        location: str | None,
        employee: str | None,
        station: str | None,
        units: Sequence[str],
        after: tuple[int, str, str, int, int] | None,
        limit: int,
    ) -> list[ScanView]:
        """Scans made in [from_ms, to_ms), oldest first, after the cursor (wall_ms, station,
        journal, fork, seq) of a previous page."""
        where = ["s.wall_ms >= ?", "s.wall_ms < ?"]
        params: list[object] = [from_ms, to_ms]
        for column, value in (
            ("s.location", location),
            ("s.employee", employee),
            ("s.station", station),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if units:
            where.append(f"e.unit IN ({', '.join('?' for _ in units)})")
            params.extend(units)
        if after is not None:
            # a row value: SQLite and PostgreSQL compare it field by field, in order
            where.append("(s.wall_ms, s.station, s.journal, s.fork, s.seq) > (?, ?, ?, ?, ?)")
            params += list(after)
        rows = self._q(
            f"SELECT {_SCAN_COLUMNS} FROM {_SCANS} WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY s.wall_ms, s.station, s.journal, s.fork, s.seq LIMIT ?",
            (*params, limit),
        )
        return [_scan(r) for r in rows]

    # -- places ----------------------------------------------------------------------------

    def places(self) -> list[Place]:
        with self._lock:
            return places.places(self._db)

    # -- people ----------------------------------------------------------------------------

    def find_people(
        self, text: str, *, units: Sequence[str] = (), limit: int = 100
    ) -> list[Person]:
        with self._lock:
            return people.find_people(self._db, text, units=units, limit=limit)

    def person(self, number: str) -> Person | None:
        with self._lock:
            return people.person(self._db, number)

    def names(self, numbers: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return people.names(self._db, numbers)

    def badges_of(self, numbers: Sequence[str]) -> dict[str, list[Badge]]:
        with self._lock:
            return badges.badges_of(self._db, numbers)

    # -- phone badges ----------------------------------------------------------------------

    def phones_of(self, number: str) -> list[phones.Phone]:
        with self._lock:
            return phones.phones_of(self._db, number)

    def phone(self, serial: int) -> phones.Phone | None:
        with self._lock:
            return phones.phone_by_serial(self._db, serial)

    def issue_phone_code(self, number: str, *, by: str, now_ms: int) -> str:
        with self._lock:
            return phones.issue_code(self._db, number, by=by, now_ms=now_ms)

    def enroll_phone(
        self, key: SigningKey, code: str, point: bytes, *, now_ms: int, valid_days: int
    ) -> phones.Enrolled:
        with self._lock:
            return phones.enroll(self._db, key, code, point, now_ms=now_ms, valid_days=valid_days)

    def numbers_in_units(self, units: Sequence[str]) -> set[str]:
        with self._lock:
            return people.numbers_in_units(self._db, units)

    def arrivals_since(self, since_ms: int) -> tuple[int, float, float]:
        """(scans committed since `since_ms`, mean and longest delay scan to hub in ms)."""
        rows = self._q(
            "SELECT COUNT(*), AVG(received_ms - wall_ms), MAX(received_ms - wall_ms) "
            "FROM scans WHERE received_ms >= ?",
            (since_ms,),
        )
        count, mean, longest = rows[0]
        return int(count), float(mean or 0), float(longest or 0)

    def scans_per_location(self, since_ms: int) -> list[tuple[str, int, int]]:
        """(location, accepted scans, people) since `since_ms` (by the time the scan was made)."""
        rows = self._q(
            "SELECT location, COUNT(*), COUNT(DISTINCT employee) FROM scans "
            "WHERE wall_ms >= ? AND outcome = 'accepted' GROUP BY location ORDER BY location",
            (since_ms,),
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def locations(self) -> list[str]:
        rows = self._q("SELECT DISTINCT location FROM stations WHERE location <> '' ORDER BY 1")
        return [str(r[0]) for r in rows]

    # -- rejects ---------------------------------------------------------------------------

    def recent_rejects(
        self, *, station: str | None = None, reason: str | None = None, limit: int = 50
    ) -> list[RejectView]:
        where, params = [], []
        if station is not None:
            where.append("station = ?")
            params.append(station)
        if reason is not None:
            where.append("reason = ?")
            params.append(reason)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._q(
            "SELECT id, received_ms, topic, station, seq, reason, detail FROM rejects "  # noqa: S608
            f"{clause}ORDER BY received_ms DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [
            RejectView(
                int(r[0]),
                int(r[1]),
                str(r[2]),
                None if r[3] is None else str(r[3]),
                None if r[4] is None else int(r[4]),
                str(r[5]),
                None if r[6] is None else str(r[6]),
            )
            for r in rows
        ]

    def open_alerts_by_kind(self) -> dict[str, int]:
        rows = self._q("SELECT kind, COUNT(*) FROM alerts WHERE cleared_ms IS NULL GROUP BY kind")
        return {str(r[0]): int(r[1]) for r in rows}

    def scans_committed(self) -> int:
        """Scan records stored, all stations (each journal counts its own: no scan count)."""
        rows = self._q("SELECT COALESCE(SUM(records), 0) FROM journals")
        return int(rows[0][0])

    def attendance_marks_waiting(self) -> int:
        """(employee, day) marks ingest made that no derivation has taken yet."""
        return int(self._q("SELECT COUNT(*) FROM attendance_dirty")[0][0])

    def reject_reasons(self) -> list[tuple[str, int]]:
        """Each reject reason and how many rejects the hub keeps of it."""
        rows = self._q("SELECT reason, COUNT(*) FROM rejects GROUP BY reason ORDER BY reason")
        return [(str(r[0]), int(r[1])) for r in rows]

    def telemetries(self) -> dict[str, str]:
        """Every station's last telemetry message (JSON text), by station id."""
        rows = self._q("SELECT id, telemetry_json FROM stations WHERE telemetry_json IS NOT NULL")
        return {str(r[0]): str(r[1]) for r in rows}

    def telemetry(self, station: str) -> str | None:
        """The station's last telemetry message (JSON text), as the hub stored it."""
        rows = self._q("SELECT telemetry_json FROM stations WHERE id = ?", (station,))
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    # -- attendance ------------------------------------------------------------------------

    def attendance_day(
        self, day: dt.date, units: Sequence[str], unit: str | None, now_ms: int
    ) -> tuple[Rules, list[reports.DayLine], reports.Completeness]:
        with self._lock:
            _, rules = self._rules.get(self._db)
            persons = reports.people(self._db, units, unit)
            lines, complete = reports.daily(self._db, rules, day, persons, now_ms)
            return rules, lines, complete

    def attendance_recap(
        self, first: dt.date, last: dt.date, units: Sequence[str], unit: str | None, now_ms: int
    ) -> tuple[Rules, list[reports.RecapLine]]:
        with self._lock:
            _, rules = self._rules.get(self._db)
            persons = reports.people(self._db, units, unit)
            return rules, reports.recap(self._db, rules, first, last, persons, now_ms)

    def attendance_correction_page(
        self, employee: str, day: dt.date, now_ms: int
    ) -> tuple[Rules, reports.DayLine | None, list[corrections.Correction]]:
        with self._lock:
            _, rules = self._rules.get(self._db)
            found = [p for p in reports.people(self._db) if p.number == employee]
            line = None
            if found:
                (line,), _ = reports.daily(self._db, rules, day, found, now_ms)
            return rules, line, corrections.corrections(self._db, day, day, employee)

    def attendance_correct(
        self,
        *,
        employee: str,
        day: dt.date,
        by: str,
        reason: str,
        code: str | None,
        check_in: str | None,
        check_out: str | None,
        attachment: str,
        now_ms: int,
    ) -> corrections.Correction:
        """A correction from the console's form; times are HH:MM in the employee's zone, on
        whichever day puts them inside the shift's check-in or check-out window (a night
        shift's check-out at 05:00 is the next morning's); a time inside neither is refused,
        naming the window. On a day off, a check-out before the group's start is the next
        morning's."""
        with self._lock:
            _, rules = self._rules.get(self._db)
            person = people.person(self._db, employee)
            group = rules.group_of(person.shift_group if person else "")
            if group is None:
                raise corrections.CorrectionError(
                    f"no shift group for {employee!r}", "no_shift_group", employee=employee
                )
            # the shift worked that day: the roster's, a period's (Ramadan), or the group's
            assigned = roster(self._db, day, day, [employee]).get((employee, day))
            worked = shift_on(rules, group, day, assigned)
            zone = group.timezone
            if worked is None:
                start_min = rules.shift_named(group.shift, day).start_min
                check_in_ms = _clock_time(check_in, day, zone, start_min, False)
                check_out_ms = _clock_time(check_out, day, zone, start_min, True)
            else:
                w = windows(worked, day, zone)
                check_in_ms = _in_window(check_in, day, zone, w.check_in, "in_outside")
                check_out_ms = _in_window(check_out, day, zone, w.check_out, "out_outside")
            return corrections.request(
                self._db,
                rules,
                employee=employee,
                work_date=day,
                by=by,
                reason=reason,
                now_ms=now_ms,
                code=code,
                check_in_ms=check_in_ms,
                check_out_ms=check_out_ms,
                attachment=attachment,
            )

    def attendance_decide(
        self, correction_id: int, decision: corrections.Decision, by: str, now_ms: int
    ) -> corrections.Correction:
        with self._lock:
            return corrections.decide(self._db, correction_id, decision, by, now_ms)

    def attendance_pending(self) -> list[corrections.Correction]:
        with self._lock:
            return corrections.pending(self._db)

    def attendance_checkins(
        self, from_ms: int, to_ms: int, units: Sequence[str]
    ) -> list[reports.Checkin]:
        with self._lock:
            persons = reports.people(self._db, units) if units else None
            return reports.checkins(self._db, from_ms, to_ms, persons)

    def attendance_month(
        self, person: reports.Person, first: dt.date, last: dt.date, now_ms: int
    ) -> tuple[Rules, list[reports.DayLine]]:
        """One employee's days from `first` to `last` (the calendar on the employee's page)."""
        with self._lock:
            _, rules = self._rules.get(self._db)
            return rules, reports.person_month(self._db, rules, person, first, last, now_ms)

    # -- events (presensi.hub.events) --------------------------------------------------------

    def events_between(self, from_ms: int, to_ms: int) -> list[tuple[Event, Board | None]]:
        """Events meeting [from_ms, to_ms) with their boards (None for a cancelled one)."""
        with self._lock:
            now = time.time_ns() // 1_000_000
            return [
                (e, None if e.cancelled else event_results.board(self._db, e, now))
                for e in event_model.between(self._db, from_ms, to_ms)
            ]

    def event_board(self, event_id: str, now_ms: int) -> Board | None:
        with self._lock:
            found = event_model.get(self._db, event_id)
            return None if found is None else event_results.board(self._db, found, now_ms)

    def event_add(self, plan: event_model.Plan, by: str, now_ms: int) -> list[Event]:
        """Plan and store an event (or a weekly series); EventError naming every problem."""
        with self._lock:
            made = event_model.plan_events(self._db, plan)
            event_model.add_events(self._db, made, by, now_ms)
            return made

    def event_excuse(self, event_id: str, employee: str, reason: str, by: str, now_ms: int) -> None:
        with self._lock:
            event_model.excuse(self._db, event_id, employee, reason, by, now_ms)

    def units(self) -> list[str]:
        with self._lock:
            return reports.units(self._db)

    def telemetry_history(self, station: str, since_ms: int) -> list[Sample]:
        with self._lock:
            return telemetry.samples(self._db, station, since_ms)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _minutes(text: str) -> int:
    """Minutes after midnight of "HH:MM"; CorrectionError if it is not one."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError(text)
    except ValueError:
        raise corrections.CorrectionError(
            f"{text!r} is not a time HH:MM", "bad_time", value=text[:20]
        ) from None
    return hours * 60 + minutes


def _clock_time(
    text: str | None, day: dt.date, zone: str, start_min: int, checkout: bool
) -> int | None:
    if not text:
        return None
    at = _minutes(text)
    if checkout and at < start_min:
        at += 24 * 60  # a night shift's check-out, the next morning
    return at_local(day, at, zone)


def _in_window(
    text: str | None, day: dt.date, zone: str, window: tuple[int, int], refusal: str
) -> int | None:
    """The moment "HH:MM" names inside `window` (on the work day, the day before or the day
    after); CorrectionError `refusal` naming the window if it is in none."""
    if not text:
        return None
    at = _minutes(text)
    for k in (0, 1, -1):
        moment = at_local(day + dt.timedelta(days=k), at, zone)
        if window[0] <= moment <= window[1]:
            return moment
    local = [dt.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(zone)) for ms in window]
    start, end = (f"{t:%H:%M}" for t in local)
    which = "check-in" if refusal == "in_outside" else "check-out"
    raise corrections.CorrectionError(
        f"{text} is outside the shift's {which} window {start}-{end}",
        refusal,
        value=text,
        start=start,
        end=end,
    )
