"""The organisation's people in the hub's store: names and units for the console, synced from
the org folder by `presensi provision register` (the org folder stays the source of truth)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from presensi.hub.attendance.marks import mark_revoked

if TYPE_CHECKING:
    from presensi.hub.store import Database

_COLUMNS = "number, name, unit, shift_group, active"


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    unit: str
    shift_group: str
    active: bool = True


@dataclass(frozen=True)
class Synced:
    added: int
    changed: int
    retired: int  # in the store, active, and no longer in the list: kept, made inactive


def _person(row: Sequence[Any]) -> Person:
    return Person(str(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))


def sync_people(db: Database, people: Sequence[Person], now_ms: int) -> Synced:
    """Make the store's people those of `people` (one transaction): new ones added, changed
    ones updated, those missing made inactive (their scans still name them)."""
    wanted = {p.number: p for p in people}
    with db.transaction():
        current = {row[0]: _person(row) for row in db.execute(f"SELECT {_COLUMNS} FROM employees")}  # noqa: S608
        added = [p for n, p in wanted.items() if n not in current]
        changed = [
            p for n, p in wanted.items() if n in current and current[n] != replace(p, active=True)
        ]
        retired = [n for n, p in current.items() if n not in wanted and p.active]
        db.executemany(
            "INSERT INTO employees (number, name, unit, shift_group, active, updated_ms) "
            "VALUES (?, ?, ?, ?, TRUE, ?) ON CONFLICT (number) DO UPDATE SET "
            "name = excluded.name, unit = excluded.unit, shift_group = excluded.shift_group, "
            "active = TRUE, updated_ms = excluded.updated_ms",
            [(p.number, p.name, p.unit, p.shift_group, now_ms) for p in [*added, *changed]],
        )
        db.executemany(
            "UPDATE employees SET active = FALSE, updated_ms = ? WHERE number = ?",
            [(now_ms, n) for n in retired],
        )
        # a leaver's phone badge stops working (the running hub publishes it to the stations;
        # a card is revoked by the org, with `presensi provision badge revoke`)
        gone = [
            int(r[0])
            for n in retired
            for r in db.execute(
                "SELECT serial FROM phones WHERE employee = ? AND revoked_ms IS NULL", (n,)
            )
        ]
        db.executemany(
            "UPDATE phones SET revoked_ms = ?, revoke_reason = 'left' WHERE serial = ?",
            [(now_ms, serial) for serial in gone],
        )
        mark_revoked(db, gone)
    return Synced(len(added), len(changed), len(retired))


def find_people(
    db: Database, text: str, *, units: Sequence[str] = (), limit: int = 100
) -> list[Person]:
    """People whose number or name contains `text` (any case), limited to `units` if given.
    SQLite's LIKE ignores case (ASCII, like its LOWER), PostgreSQL's ILIKE too (any script)."""
    like = "ILIKE" if db.dialect == "postgres" else "LIKE"
    where = [f"(number {like} ? ESCAPE '\\' OR name {like} ? ESCAPE '\\')"]
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    needle = f"%{escaped}%"  # what the reader types is text, never a pattern
    params: list[object] = [needle, needle]
    if units:
        where.append(f"unit IN ({', '.join('?' for _ in units)})")
        params.extend(units)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM employees WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY active DESC, name, number LIMIT ?",
        (*params, limit),
    )
    return [_person(r) for r in rows]


def person(db: Database, number: str) -> Person | None:
    rows = db.execute(f"SELECT {_COLUMNS} FROM employees WHERE number = ?", (number,))  # noqa: S608
    return _person(rows[0]) if rows else None


def names(db: Database, numbers: Sequence[str]) -> dict[str, str]:
    """The names of those of `numbers` the hub knows (number -> name)."""
    found: dict[str, str] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        rows = db.execute(
            f"SELECT number, name FROM employees WHERE number IN ({', '.join('?' for _ in chunk)})",  # noqa: S608
            tuple(chunk),
        )
        found.update((str(r[0]), str(r[1])) for r in rows)
    return found


def numbers_in_units(db: Database, units: Sequence[str]) -> set[str]:
    if not units:
        return set()
    rows = db.execute(
        f"SELECT number FROM employees WHERE unit IN ({', '.join('?' for _ in units)})",  # noqa: S608
        tuple(units),
    )
    return {str(r[0]) for r in rows}
