"""The org's badges in the hub's store, for the console's Pegawai pages: which badge each
employee holds and whether it is valid, revoked or expired. Synced from the org's registry by
`presensi provision employees sync` (the org folder stays the source of truth: stations learn
revocations from the signed list, never from here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from presensi.hub.store import Database

# SQL: scan `s` was made (by the hub's time) after its badge or phone was revoked; a station
# that had not heard yet accepted it: not a punch until a person decides (attendance), listed
# on the alerts page. REVOKED_SINCE is the same as a table to join from (the revoked serials
# are few: their scans are found by the serial's index, not by testing every scan).
REVOKED_BEFORE_SCAN = (
    "(EXISTS (SELECT 1 FROM badges b WHERE b.serial = s.serial AND b.revoked_ms IS NOT NULL "
    "AND b.revoked_ms <= COALESCE(s.corrected_wall_ms, s.wall_ms)) "
    "OR EXISTS (SELECT 1 FROM phones ph WHERE ph.serial = s.serial AND ph.revoked_ms IS NOT NULL "
    "AND ph.revoked_ms <= COALESCE(s.corrected_wall_ms, s.wall_ms)))"
)
REVOKED_SINCE = (  # (serial, revoked_ms) of every revoked card and phone: a few rows
    "SELECT serial, revoked_ms FROM badges WHERE revoked_ms IS NOT NULL "
    "UNION ALL SELECT serial, revoked_ms FROM phones WHERE revoked_ms IS NOT NULL"
)

BadgeState = Literal["aktif", "belum_berlaku", "kedaluwarsa", "dicabut", "diganti", "tanpa"]

_COLUMNS = (
    "serial, employee, valid_from_s, valid_until_s, issued_ms, revoked_ms, revoke_reason, "
    "replaced_by"
)


@dataclass(frozen=True)
class Badge:
    serial: int
    employee: str
    valid_from_s: int
    valid_until_s: int
    issued_ms: int
    revoked_ms: int | None = None
    revoke_reason: str | None = None
    replaced_by: int | None = None

    def state(self, now_s: int) -> BadgeState:
        if self.revoked_ms is not None:
            return "diganti" if self.replaced_by is not None else "dicabut"
        if now_s >= self.valid_until_s:
            return "kedaluwarsa"
        if now_s < self.valid_from_s:
            return "belum_berlaku"
        return "aktif"


# an employee's state is that of the badge that matters most to an operator
_RANK: tuple[BadgeState, ...] = ("aktif", "belum_berlaku", "kedaluwarsa", "dicabut", "diganti")


def employee_state(badges: Sequence[Badge], now_s: int) -> BadgeState:
    """'aktif' if any badge is valid now, else the state of the best one; 'tanpa' for none."""
    states = {b.state(now_s) for b in badges}
    return next((s for s in _RANK if s in states), "tanpa")


def _badge(r: Sequence[Any]) -> Badge:
    return Badge(
        int(r[0]),
        str(r[1]),
        int(r[2]),
        int(r[3]),
        int(r[4]),
        None if r[5] is None else int(r[5]),
        None if r[6] is None else str(r[6]),
        None if r[7] is None else int(r[7]),
    )


def sync_badges(db: Database, badges: Sequence[Badge], now_ms: int) -> int:
    """Make the store's badges those of the registry (one transaction); how many changed."""
    with db.transaction():
        current = {b.serial: b for b in map(_badge, db.execute(f"SELECT {_COLUMNS} FROM badges"))}  # noqa: S608
        wanted = {b.serial: b for b in badges}
        gone = [s for s in current if s not in wanted]
        changed = [b for s, b in wanted.items() if current.get(s) != b]
        db.executemany("DELETE FROM badges WHERE serial = ?", [(s,) for s in gone])
        db.executemany(
            f"INSERT INTO badges ({_COLUMNS}, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
            "ON CONFLICT (serial) DO UPDATE SET employee = excluded.employee, "
            "valid_from_s = excluded.valid_from_s, valid_until_s = excluded.valid_until_s, "
            "issued_ms = excluded.issued_ms, revoked_ms = excluded.revoked_ms, "
            "revoke_reason = excluded.revoke_reason, replaced_by = excluded.replaced_by, "
            "updated_ms = excluded.updated_ms",
            [
                (
                    b.serial,
                    b.employee,
                    b.valid_from_s,
                    b.valid_until_s,
                    b.issued_ms,
                    b.revoked_ms,
                    b.revoke_reason,
                    b.replaced_by,
                    now_ms,
                )
                for b in changed
            ],
        )
        # a badge revoked (or its revocation changed): its scans' days are derived again
        from presensi.hub.attendance.marks import mark_revoked

        mark_revoked(
            db,
            [
                b.serial
                for b in changed
                if b.revoked_ms != getattr(current.get(b.serial), "revoked_ms", None)
            ],
        )
    return len(changed) + len(gone)


def badges_of(db: Database, employees: Sequence[str]) -> dict[str, list[Badge]]:
    """Each of `employees`' badges, newest first."""
    if not employees:
        return {}
    marks = ", ".join("?" for _ in employees)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM badges WHERE employee IN ({marks}) ORDER BY serial DESC",  # noqa: S608
        tuple(employees),
    )
    found: dict[str, list[Badge]] = {}
    for badge in map(_badge, rows):
        found.setdefault(badge.employee, []).append(badge)
    return found
