"""The station's own board of its event: who came, from its own journal and the event sheet's
participants, so a host at the venue sees it even when the hub is out of reach.

The rules are the hub's (presensi.hub.events.results, docs/events.md): one attendance per
person, the earliest accepted scan for the event; after the late threshold it is late; someone
not on the list is a walk-in, counted if the event counts walk-ins; an open event (no list)
counts everyone who came. Only this station's scans are here: the hub's board has the venue's.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from presensi.device.errors import JournalError
from presensi.device.eventsheet import Phase, phase
from presensi.device.journal import JournalReader, Position
from presensi.protocol import wire
from presensi.protocol.reasons import Outcome
from presensi.protocol.record import ScanRecord

log = logging.getLogger(__name__)

LATEST = 12  # the latest arrivals shown
WALK_IN_UNIT = ""  # the unit of someone not on the list


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    unit: str


@dataclass(frozen=True)
class Arrival:
    person: Person
    at_ms: int
    late: bool
    expected: bool  # False: a walk-in


@dataclass(frozen=True)
class UnitCount:
    unit: str
    present: int
    expected: int


@dataclass(frozen=True)
class BoardView:
    """What the board shows at one moment."""

    phase: Phase
    now_ms: int
    sheet: wire.EventSheet | None = None
    present: int = 0  # x of "Hadir x / y"
    expected: int = 0  # y (an open event: everyone who came)
    late: int = 0
    walk_ins: int = 0  # counted walk-ins
    repeats: int = 0  # later accepted scans of someone already counted
    units: list[UnitCount] = field(default_factory=list)
    latest: list[Arrival] = field(default_factory=list)  # newest first
    missing: list[Person] = field(default_factory=list)  # belum hadir, by unit and name
    problem: str = ""  # the journal cannot be read now


class EventTally:
    """The earliest accepted scan per employee for one event, read from the journal as it
    grows (each refresh reads only the records committed since the last)."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.first: dict[str, ScanRecord] = {}
        self.repeats = 0
        self.position: Position = (0, 0)

    def add(self, records: list[ScanRecord]) -> None:
        for record in records:
            if record.outcome is not Outcome.ACCEPTED or record.employee is None:
                continue
            seen = self.first.get(record.employee)
            if seen is None:
                self.first[record.employee] = record
                continue
            self.repeats += 1
            if record.wall_ms < seen.wall_ms:  # the earliest counts, whatever the file order
                self.first[record.employee] = record


def compose(sheet: wire.EventSheet, tally: EventTally, now_ms: int) -> BoardView:
    """The board of `sheet` from the scans in `tally`."""
    listed = {p.number: Person(p.number, p.name, p.unit) for p in sheet.participants}
    open_event = not listed
    arrivals: list[Arrival] = []
    for number, record in tally.first.items():
        expected = number in listed
        if not (expected or sheet.walk_ins or open_event):
            continue  # a walk-in the event does not count
        person = listed.get(number) or Person(number, number, WALK_IN_UNIT)
        arrivals.append(Arrival(person, record.wall_ms, record.wall_ms > sheet.late_ms, expected))
    units: dict[str, list[int]] = {}
    for p in listed.values():
        units.setdefault(p.unit, [0, 0])[1] += 1
    for a in arrivals:
        row = units.setdefault(a.person.unit, [0, 0])
        row[0] += 1
        row[1] += open_event
    came = {a.person.number for a in arrivals}
    missing = sorted(
        (p for p in listed.values() if p.number not in came), key=lambda p: (p.unit, p.name)
    )
    return BoardView(
        phase(sheet, now_ms),
        now_ms,
        sheet,
        present=len(arrivals),
        # y: the listed and the walk-ins who count, as the hub's board (x never passes y)
        expected=len(arrivals)
        if open_event
        else len(listed) + sum(not a.expected for a in arrivals),
        late=sum(a.late for a in arrivals),
        walk_ins=sum(not a.expected for a in arrivals) if not open_event else 0,
        repeats=tally.repeats,
        units=[UnitCount(u, p, e) for u, (p, e) in sorted(units.items())],
        latest=sorted(arrivals, key=lambda a: a.at_ms, reverse=True)[:LATEST],
        missing=missing,
    )


class LocalBoard:
    """The board of the station's kept event sheet, computed from its journal on each look
    (read-only; from the board server's threads, one at a time)."""

    def __init__(
        self,
        journal_path: Path,
        sheet: Callable[[], wire.EventSheet | None],
        now_ms: Callable[[], int],
    ) -> None:
        self.journal_path = journal_path
        self._sheet = sheet
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._reader: JournalReader | None = None
        self._tally: EventTally | None = None

    def view(self) -> BoardView:
        sheet = self._sheet()
        now_ms = self._now_ms()
        if sheet is None:
            return BoardView("none", now_ms)
        with self._lock:
            tally = self._tally
            if tally is None or tally.event != sheet.event:
                tally = self._tally = EventTally(sheet.event)
            problem = ""
            try:
                tally = self._refresh(tally)
            except (JournalError, sqlite3.Error) as exc:
                problem = f"jurnal tidak dapat dibaca: {exc}"
                log.warning("the local board cannot read the journal now: %s", exc)
                self._close_reader()
            board = compose(sheet, tally, now_ms)
        return dataclasses.replace(board, problem=problem) if problem else board

    def _refresh(self, tally: EventTally) -> EventTally:
        if self._reader is None:
            self._reader = JournalReader(self.journal_path)
        newest = self._reader.newest()
        if newest < tally.position:  # another file (a recovered journal): read it afresh
            tally = self._tally = EventTally(tally.event)
        if newest > tally.position:
            tally.add(self._reader.event_records(tally.event, tally.position, newest))
            tally.position = newest
        return tally

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def close(self) -> None:
        with self._lock:
            self._close_reader()
