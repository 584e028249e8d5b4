"""Cheating signals: how a badge was used that a person should look at, raised as alerts on the
console's Peringatan page with the evidence (which scans, where, when). The hub decides nothing
by itself here: attendance stays as derived; a person clears the alert or corrects the day.

- travel: one employee's accepted scans at two points further apart than the rules'
  `travel_kmh` allows in the time between them (one badge in two hands);
- elsewhere: an accepted scan at a point not assigned to the employee that day (the group's
  `locations`, or the roster's `lokasi`);
- attempts: `rejected_attempts` refused scans of one person within `rejected_window_min`
  (a forged, expired or someone else's card tried again and again);
- revoked: a revoked badge presented at a station that knew it was revoked;
- phone copy: one phone badge accepted at two stations with the very same code (a screenshot:
  the same text, so the same payload fingerprint), or within two time steps (30 s) of each
  other (a copy of a code shown while it was still valid). The station refuses the same code
  twice itself (`phone_replayed`); two stations cannot know of each other offline.

Checked by the derivation for the days it derives (presensi.hub.attendance.days), so a signal
follows its scans within a second or so. Each alert is raised once per subject, ever: deriving
the day again, or clearing the alert, does not raise it anew.

Each alert keeps its evidence twice: as data (`evidence`, JSON in the alert's `evidence` column:
who, which scans, where, when as Unix ms, the numbers), which the console words in the reader's
language and zone (presensi.hub.console.evidence), and as a plain English sentence with UTC
times (`detail`) for the CLI, exports and readers that do not know the data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from presensi.hub.attendance.derive import Day
from presensi.hub.attendance.rules import Signals
from presensi.hub.model import evidence_json

if TYPE_CHECKING:
    from presensi.hub.store import Database

TRAVEL = "attendance_travel"
ELSEWHERE = "attendance_elsewhere"
ATTEMPTS = "attendance_attempts"
REVOKED = "attendance_revoked"
PHONE_COPY = "attendance_phone_copy"
KINDS = (TRAVEL, ELSEWHERE, ATTEMPTS, REVOKED, PHONE_COPY)  # the alerts raised here
PHONE_SERIAL_BASE = 2**31  # = presensi.hub.phones.PHONE_SERIAL_BASE: phone serials from here
PHONE_COPY_MS = 30_000  # two time steps: how long one phone code verifies
EARTH_KM = 6371.0


@dataclass(frozen=True)
class Seen:
    """One scan of the employee, as the signals need it."""

    scan_id: str
    at_ms: int
    station: str
    location: str
    outcome: str
    reason: str
    serial: int | None
    payload: str | None = None  # the record's payload_sha256, for phone badges (else None)


@dataclass(frozen=True)
class Signal:
    kind: str
    station: str  # where the (later) scan was made
    subject: str  # what makes it one alert: the employee and the scans
    detail: str  # the evidence, for a person: English, UTC (the fallback text)
    evidence: dict[str, Any] = field(default_factory=dict)  # the same as data (module doc)


def _scan(s: Seen) -> dict[str, Any]:
    """Where and when one scan was made, as evidence."""
    return {"location": s.location, "station": s.station, "at_ms": s.at_ms}


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def travel(
    employee: str, seen: Sequence[Seen], coords: dict[str, tuple[float, float]], rules: Signals
) -> list[Signal]:
    """Consecutive accepted scans at points too far apart for the time between them."""
    accepted = sorted((s for s in seen if s.outcome == "accepted"), key=lambda s: s.at_ms)
    out: list[Signal] = []
    for a, b in itertools.pairwise(accepted):
        if a.location == b.location or a.location not in coords or b.location not in coords:
            continue
        km = distance_km(coords[a.location], coords[b.location])
        hours = (b.at_ms - a.at_ms) / 3_600_000
        if km < rules.travel_min_km or (hours > 0 and km / hours <= rules.travel_kmh):
            continue
        speed = "at once" if hours <= 0 else f"{km / hours:.0f} km/h"
        out.append(
            Signal(
                TRAVEL,
                b.station,
                f"{employee} {a.scan_id} {b.scan_id}",
                f"{employee}: {a.location} ({a.station}) at {_when(a.at_ms)}, then "
                f"{b.location} ({b.station}) at {_when(b.at_ms)}: {km:.1f} km in "
                f"{(b.at_ms - a.at_ms) / 60_000:.0f} min ({speed}; the rules allow "
                f"{rules.travel_kmh:g} km/h)",
                {
                    "employee": employee,
                    "from": _scan(a),
                    "to": _scan(b),
                    "km": round(km, 1),
                    "kmh": None if hours <= 0 else round(km / hours),
                    "allowed_kmh": rules.travel_kmh,
                },
            )
        )
    return out


def elsewhere(
    employee: str, day: Day, seen: Sequence[Seen], allowed: frozenset[str]
) -> list[Signal]:
    """The day's accepted scans at points not assigned to the employee."""
    if not allowed:
        return []
    low, high = day.start_ms - 86_400_000, day.window_end_ms
    out: dict[str, Signal] = {}
    for s in sorted(seen, key=lambda s: s.at_ms):
        if s.outcome != "accepted" or s.location in allowed or not low <= s.at_ms <= high:
            continue
        if s.location not in day.locations or s.location in out:
            continue
        out[s.location] = Signal(
            ELSEWHERE,
            s.station,
            f"{employee} {day.work_date} {s.location}",
            f"{employee} on {day.work_date}: scanned at {s.location} ({s.station}) at "
            f"{_when(s.at_ms)}; assigned: {', '.join(sorted(allowed))}",
            {
                "employee": employee,
                "work_date": str(day.work_date),
                "scan": _scan(s),
                "assigned": sorted(allowed),
            },
        )
    return list(out.values())


def attempts(employee: str, seen: Sequence[Seen], rules: Signals) -> list[Signal]:
    """Bursts of refused scans: `rejected_attempts` within `rejected_window_min`, one alert
    per burst (named by its first scan)."""
    refused = sorted((s for s in seen if s.outcome == "rejected"), key=lambda s: s.at_ms)
    window = rules.rejected_window_min * 60_000
    out: list[Signal] = []
    start = 0
    while start + rules.rejected_attempts <= len(refused):
        first = refused[start]
        burst = [s for s in refused[start:] if s.at_ms - first.at_ms <= window]
        if len(burst) < rules.rejected_attempts:
            start += 1
            continue
        reasons = sorted({s.reason for s in burst})
        places = sorted({f"{s.location} ({s.station})" for s in burst})
        out.append(
            Signal(
                ATTEMPTS,
                burst[-1].station,
                f"{employee} {first.scan_id}",
                f"{employee}: {len(burst)} refused scans from {_when(first.at_ms)} to "
                f"{_when(burst[-1].at_ms)} ({', '.join(reasons)}) at {', '.join(places)}",
                {
                    "employee": employee,
                    "count": len(burst),
                    "from_ms": first.at_ms,
                    "to_ms": burst[-1].at_ms,
                    "reasons": reasons,
                    "places": [
                        {"location": loc, "station": st}
                        for loc, st in sorted({(s.location, s.station) for s in burst})
                    ],
                },
            )
        )
        start += len(burst)
    return out


def revoked(employee: str, seen: Sequence[Seen]) -> list[Signal]:
    """A revoked badge presented (and refused as revoked): one alert per badge per day."""
    out: dict[str, Signal] = {}
    for s in sorted(seen, key=lambda s: s.at_ms):
        if s.outcome != "rejected" or s.reason != "revoked":
            continue
        day = _when(s.at_ms)[:10]
        key = f"{employee} {s.serial} {day}"
        if key not in out:
            out[key] = Signal(
                REVOKED,
                s.station,
                key,
                f"{employee}: revoked badge {s.serial} presented at {s.location} "
                f"({s.station}) at {_when(s.at_ms)}",
                {"employee": employee, "serial": s.serial, "scan": _scan(s)},
            )
    return list(out.values())


def fingerprint(body: object) -> str | None:
    """The payload fingerprint (payload_sha256) in a stored record's body, or None."""
    if body is None:
        return None
    try:
        value = json.loads(str(body)).get("payload_sha256")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _copied(a: Seen, b: Seen) -> bool:
    """Two accepted scans of one phone that one phone showing its code cannot explain."""
    if a.serial != b.serial or a.station == b.station:
        return False
    same_code = a.payload is not None and a.payload == b.payload
    # fresh codes at two places within 30 s; at two stations of one place it is the owner
    # trying the next gate after a missed beep
    elsewhere = a.location != b.location and abs(b.at_ms - a.at_ms) <= PHONE_COPY_MS
    return same_code or elsewhere


def phone_copies(employee: str, seen: Sequence[Seen]) -> list[Signal]:
    """A phone badge accepted at two stations with the same code, or at two places within
    30 s: one alert per first scan, naming every station the copies were accepted at."""
    phone = sorted(
        (
            s
            for s in seen
            if s.outcome == "accepted" and s.serial is not None and s.serial >= PHONE_SERIAL_BASE
        ),
        key=lambda s: s.at_ms,
    )
    claimed: set[str] = set()
    out: list[Signal] = []
    for i, first in enumerate(phone):
        if first.scan_id in claimed:
            continue
        copies = [b for b in phone[i + 1 :] if b.scan_id not in claimed and _copied(first, b)]
        if not copies:
            continue
        claimed.update(b.scan_id for b in copies)
        same = all(b.payload is not None and b.payload == first.payload for b in copies)
        how = "the same code (a copy of the screen)" if same else "within 30 s"
        where = "; ".join(
            f"{b.location} ({b.station}) at {_when(b.at_ms)}"
            + (", same code" if b.payload is not None and b.payload == first.payload else "")
            for b in copies
        )
        out.append(
            Signal(
                PHONE_COPY,
                copies[-1].station,
                f"{employee} {first.serial} {first.scan_id}",
                f"{employee}: phone badge {first.serial} accepted at {first.location} "
                f"({first.station}) at {_when(first.at_ms)}, then at {where}: {how}; one phone "
                "cannot be at two stations at once (counted once: the day takes the first "
                "check-in and the last check-out)",
                {
                    "employee": employee,
                    "serial": first.serial,
                    "first": _scan(first),
                    "copies": [
                        {
                            **_scan(b),
                            "same_code": b.payload is not None and b.payload == first.payload,
                        }
                        for b in copies
                    ],
                    "same_code": same,
                },
            )
        )
    return out


# -- store ------------------------------------------------------------------------------------


def coordinates(db: Database) -> dict[str, tuple[float, float]]:
    rows = db.execute("SELECT id, latitude, longitude FROM locations")
    return {str(r[0]): (float(r[1]), float(r[2])) for r in rows}


def raise_signals(db: Database, signals: Sequence[Signal], now_ms: int) -> int:
    """Inside the caller's transaction: raise each signal not raised before (open or cleared);
    how many are new."""
    new = 0
    for s in signals:
        if db.execute(
            "SELECT 1 FROM alerts WHERE kind = ? AND subject = ? LIMIT 1", (s.kind, s.subject)
        ):
            continue
        db.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail, evidence) "
            "VALUES (?, ?, NULL, ?, ?, ?, ?)",
            (now_ms, s.station, s.kind, s.subject, s.detail, evidence_json(s.evidence)),
        )
        new += 1
    return new
