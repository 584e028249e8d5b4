"""Who came to an event, computed from the scans each time it is read (so a moved window, a late
delivery from a station that was offline, or an izin given afterwards is reflected at once).

A scan counts for an event if it was accepted and either carries the event's id (the station
was in event mode for it, whenever in the day it was made, up to the window's end) or was made
at one of the event's stations inside its window. One attendance per person per event: the
earliest scan counts, wherever it was made (several stations at one venue never count anyone
twice); later ones are kept as repeats. Arriving up to the late threshold is `hadir`, after it
`terlambat`; someone expected who did not come is `belum` while the event runs and `tidak_hadir`
after it, unless excused (`izin`). Someone not expected who came is a walk-in: counted when the
event counts walk-ins (an open event counts everyone who comes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from presensi.hub.events.model import Event

if TYPE_CHECKING:
    from presensi.hub.store import Database

Status = Literal["hadir", "terlambat", "izin", "belum", "tidak_hadir"]
LATEST = 12  # the latest arrivals a board shows


@dataclass(frozen=True)
class Attendee:
    number: str
    name: str
    unit: str
    status: Status
    at_ms: int | None  # when the counted scan was made
    station: str | None
    expected: bool  # False: a walk-in
    counted: bool  # in "Hadir x / y"
    reason: str = ""  # an izin's reason

    @property
    def came(self) -> bool:
        return self.status in ("hadir", "terlambat")


@dataclass(frozen=True)
class Board:
    event: Event
    attendees: list[Attendee]  # everyone expected, then walk-ins who came; by unit and name
    present: int  # x of "Hadir x / y"
    expected: int  # y (an open event: everyone who came)
    late: int
    excused: int
    walk_ins: int
    repeats: int  # scans after a person's first: recorded, not counted again
    units: list[tuple[str, int, int]]  # (unit, present, expected)
    latest: list[Attendee]  # newest arrival first

    def missing(self, unit: str | None = None) -> list[Attendee]:
        """Belum hadir: expected, not come, not excused (of one unit if given)."""
        return [
            a
            for a in self.attendees
            if a.expected and not a.came and a.status != "izin" and (unit is None or a.unit == unit)
        ]


def board(db: Database, event: Event, now_ms: int) -> Board:
    people = {
        str(r[0]): (str(r[1]), str(r[2]))
        for r in db.execute("SELECT number, name, unit FROM employees")
    }
    expected_ = expected(db, event)
    excused = {
        str(r[0]): str(r[1])
        for r in db.execute(
            "SELECT employee, reason FROM event_excused WHERE event = ?", (event.id,)
        )
    }
    first: dict[str, tuple[int, str]] = {}
    scans = 0
    for employee, at, station in _scans(db, event):
        scans += 1
        if employee not in first or at < first[employee][0]:
            first[employee] = (at, station)
    attendees: list[Attendee] = []
    for number in sorted(
        expected_ | set(first),
        key=lambda n: (people.get(n, ("", ""))[1], people.get(n, (n, ""))[0], n),
    ):
        name, unit = people.get(number, (number, ""))
        is_expected = number in expected_
        came = first.get(number)
        status: Status
        if came is not None:
            status = "hadir" if came[0] <= event.late_ms else "terlambat"
        elif number in excused:
            status = "izin"
        else:
            status = "belum" if now_ms < event.ends_ms else "tidak_hadir"
        counted = came is not None and (is_expected or event.walk_ins or event.open)
        attendees.append(
            Attendee(
                number,
                name,
                unit,
                status,
                None if came is None else came[0],
                None if came is None else came[1],
                is_expected,
                counted,
                excused.get(number, ""),
            )
        )
    present = sum(a.counted for a in attendees)
    total = len(expected_) if not event.open else present
    per_unit: dict[str, list[int]] = {}
    for a in attendees:
        if a.expected or a.counted:
            row = per_unit.setdefault(a.unit, [0, 0])
            row[0] += a.counted
            row[1] += a.expected or event.open
    arrived = sorted((a for a in attendees if a.counted), key=lambda a: a.at_ms or 0, reverse=True)
    return Board(
        event,
        attendees,
        present,
        total,
        sum(a.status == "terlambat" and a.counted for a in attendees),
        sum(a.status == "izin" for a in attendees),
        sum(a.counted and not a.expected for a in attendees),
        scans - len(first),
        sorted((u, p, e) for u, (p, e) in per_unit.items()),
        arrived[:LATEST],
    )


def expected(db: Database, event: Event) -> set[str]:
    """The employee numbers an event expects (its units' active people and its list)."""
    found = set(event.employees)
    if event.units:
        marks = ", ".join("?" for _ in event.units)
        rows = db.execute(
            f"SELECT number FROM employees WHERE active = TRUE AND unit IN ({marks})",  # noqa: S608
            event.units,
        )
        found |= {str(r[0]) for r in rows}
    return found


def _scans(db: Database, event: Event) -> list[tuple[str, int, str]]:
    """(employee, time, station) of every accepted scan that counts for the event."""
    marks = ", ".join("?" for _ in event.stations) or "''"
    rows = db.execute(
        "SELECT employee, COALESCE(corrected_wall_ms, wall_ms), station FROM scans "  # noqa: S608
        "WHERE outcome = 'accepted' AND employee IS NOT NULL AND ("
        "(event = ? AND wall_ms >= ? AND COALESCE(corrected_wall_ms, wall_ms) <= ?) OR "
        f"(station IN ({marks}) AND wall_ms >= ? AND wall_ms <= ? "
        "AND COALESCE(corrected_wall_ms, wall_ms) BETWEEN ? AND ?))",
        (
            event.id,
            event.starts_ms - 86_400_000,  # tagged: any time that day, up to the end
            event.ends_ms,
            *event.stations,
            event.starts_ms - 86_400_000,  # (an index range; the exact test follows)
            event.ends_ms + 86_400_000,
            event.starts_ms,
            event.ends_ms,
        ),
    )
    return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]


def counts(board: Board) -> Counter[str]:
    return Counter(a.status for a in board.attendees if a.expected or a.counted)
