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
    expected: int  # y: everyone expected and the walk-ins counted (open: everyone who came)
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
    people = _expected_people(db, event)  # number -> (name, unit), everyone expected
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
    walk_ins = _names(db, [n for n in first if n not in people])
    attendees: list[Attendee] = []
    late_ms, going = event.late_ms, now_ms < event.ends_ms
    for unit, name, number in sorted(
        [(u, n, k) for k, (n, u) in people.items()]
        + [(walk_ins.get(k, (k, ""))[1], walk_ins.get(k, (k, ""))[0], k) for k in walk_ins]
    ):
        is_expected = number in people
        came = first.get(number)
        status: Status
        if came is not None:
            status = "hadir" if came[0] <= late_ms else "terlambat"
        elif number in excused:
            status = "izin"
        else:
            status = "belum" if going else "tidak_hadir"
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
    # y: everyone expected, and the walk-ins who count (so that x never passes y)
    walked_in = sum(a.counted and not a.expected for a in attendees)
    total = present if event.open else len(people) + walked_in
    per_unit: dict[str, list[int]] = {}
    for a in attendees:
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
    return set(_expected_people(db, event))


def _expected_people(db: Database, event: Event) -> dict[str, tuple[str, str]]:
    """number -> (name, unit) of everyone the event expects: its units' active people, and its
    list (a listed number the hub does not know keeps its number as its name)."""
    found: dict[str, tuple[str, str]] = {}
    if event.units:
        marks = ", ".join("?" for _ in event.units)
        rows = db.execute(
            f"SELECT number, name, unit FROM employees WHERE active = TRUE AND unit IN ({marks})",  # noqa: S608
            event.units,
        )
        found.update((str(r[0]), (str(r[1]), str(r[2]))) for r in rows)
    listed = _names(db, [n for n in event.employees if n not in found])
    found.update({n: listed.get(n, (n, "")) for n in event.employees if n not in found})
    return found


def _names(db: Database, numbers: list[str]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for k in range(0, len(numbers), 500):
        chunk = numbers[k : k + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT number, name, unit FROM employees WHERE number IN ({marks})",  # noqa: S608
            tuple(chunk),
        )
        out.update((str(r[0]), (str(r[1]), str(r[2]))) for r in rows)
    return out


def _scans(db: Database, event: Event) -> list[tuple[str, int, str]]:
    """(employee, time, station) of every accepted scan that counts for the event: those
    tagged with its id (any time that day, up to the end), and those at its stations inside
    its window; two queries, each on an index (scans_event, scans_station_wall)."""
    tagged = db.execute(
        "SELECT employee, COALESCE(corrected_wall_ms, wall_ms), station, station || ':' || "
        "journal || ':' || fork || ':' || seq FROM scans WHERE event = ? AND wall_ms >= ? "
        "AND outcome = 'accepted' AND employee IS NOT NULL",
        (event.id, event.starts_ms - 86_400_000),
    )
    found = {
        str(r[3]): (str(r[0]), int(r[1]), str(r[2])) for r in tagged if int(r[1]) <= event.ends_ms
    }
    for k in range(0, len(event.stations), 100):
        chunk = event.stations[k : k + 100]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT employee, COALESCE(corrected_wall_ms, wall_ms), station, station || ':' || "  # noqa: S608
            "journal || ':' || fork || ':' || seq FROM scans "
            f"WHERE station IN ({marks}) AND wall_ms >= ? AND wall_ms <= ? "
            "AND outcome = 'accepted' AND employee IS NOT NULL",
            (*chunk, event.starts_ms - 86_400_000, event.ends_ms + 86_400_000),
        )
        for r in rows:
            if event.starts_ms <= int(r[1]) <= event.ends_ms:
                found[str(r[3])] = (str(r[0]), int(r[1]), str(r[2]))
    return list(found.values())
