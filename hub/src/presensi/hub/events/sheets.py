"""The event sheets the hub keeps retained on each station's event topic (docs/protocol.md):
the event a station serves now or next, so that it switches into event mode and back on the
event's schedule by itself, and can show its own board of the event with the hub out of reach.

For each station: the earliest event, not cancelled and not yet over, that lists the station
and starts within `HORIZON_MS`; none: an empty payload (withdrawn). The hub's run loop
publishes what changed every `EVERY_S` seconds (presensi.hub.service), and `presensi hub event
publish` does it once by hand.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec

from presensi.hub.events import model, results
from presensi.protocol import topics, wire

if TYPE_CHECKING:
    from presensi.hub.store import Database

HORIZON_MS = 36 * 3_600_000  # an event this far ahead is already on its stations' topics
OPENS_BEFORE_MS = 30 * 60_000  # a station takes scans for the event this long before its start
EVERY_S = 30.0


def sheets(db: Database, now_ms: int) -> dict[str, wire.EventSheet | None]:
    """Every registered station's sheet (None: no event now or next)."""
    stations = [str(r[0]) for r in db.execute("SELECT id FROM stations ORDER BY id")]
    chosen: dict[str, model.Event] = {}
    for upcoming in model.between(db, now_ms, now_ms + HORIZON_MS, cancelled=False):
        for station in upcoming.stations:
            if station not in chosen or upcoming.starts_ms < chosen[station].starts_ms:
                chosen[station] = upcoming
    people = {
        str(r[0]): (str(r[1]), str(r[2]))
        for r in db.execute("SELECT number, name, unit FROM employees WHERE active = TRUE")
    }
    made: dict[str, wire.EventSheet] = {}
    out: dict[str, wire.EventSheet | None] = {}
    for station in stations:
        event = chosen.get(station)
        if event is None:
            out[station] = None
            continue
        if event.id not in made:
            expected = sorted(results.expected(db, event))[: wire.MAX_PARTICIPANTS]
            made[event.id] = wire.EventSheet(
                version=1,
                event=event.id,
                name=event.name[:128],
                opens_ms=max(0, event.starts_ms - OPENS_BEFORE_MS),
                starts_ms=event.starts_ms,
                late_ms=event.late_ms,
                ends_ms=event.ends_ms,
                walk_ins=event.walk_ins,
                participants=[
                    wire.Participant(
                        n, people.get(n, (n, ""))[0][:128], people.get(n, ("", ""))[1][:128]
                    )
                    for n in expected
                ],
            )
        out[station] = made[event.id]
    return out


class Publisher:
    """Keeps each station's retained sheet in step with the store: publishes what changed
    since the last round (everything on the first), with a version that grows."""

    def __init__(self) -> None:
        self._sent: dict[str, bytes] = {}

    def changes(self, db: Database, now_ms: int | None = None) -> list[tuple[str, bytes]]:
        """(topic, payload) to publish retained now; remembers them as sent."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        out: list[tuple[str, bytes]] = []
        for station, sheet in sheets(db, now_ms).items():
            content = b"" if sheet is None else wire.encode(sheet)
            if self._sent.get(station) == content:
                continue
            payload = b""
            if sheet is not None:
                payload = wire.encode(msgspec.structs.replace(sheet, version=now_ms))
                if len(payload) > wire.MAX_EVENT_BYTES:  # too many people for one sheet
                    payload = wire.encode(
                        msgspec.structs.replace(sheet, version=now_ms, participants=[])
                    )
            out.append((topics.station_topic(station, "event"), payload))
            self._sent[station] = content
        return out
