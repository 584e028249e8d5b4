"""The organisation's attendance points in the hub's store, for the console's Lokasi page:
synced from the org folder by `presensi provision locations sync` (the org folder stays the
source of truth; a point no longer listed is removed, its scans keep its id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from presensi.hub.store import Database


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    timezone: str


def sync_places(db: Database, places: Sequence[Place], now_ms: int) -> tuple[int, int]:
    """Make the store's points those of `places`; (how many now, how many removed)."""
    wanted = {p.id for p in places}
    with db.transaction():
        current = {str(r[0]) for r in db.execute("SELECT id FROM locations")}
        gone = sorted(current - wanted)
        db.executemany("DELETE FROM locations WHERE id = ?", [(i,) for i in gone])
        db.executemany(
            "INSERT INTO locations (id, name, kind, latitude, longitude, timezone, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "kind = excluded.kind, latitude = excluded.latitude, longitude = excluded.longitude, "
            "timezone = excluded.timezone, updated_ms = excluded.updated_ms",
            [(p.id, p.name, p.kind, p.latitude, p.longitude, p.timezone, now_ms) for p in places],
        )
    return len(places), len(gone)


def places(db: Database) -> list[Place]:
    rows = db.execute(
        "SELECT id, name, kind, latitude, longitude, timezone FROM locations ORDER BY kind, name"
    )
    return [
        Place(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4]), str(r[5])) for r in rows
    ]
