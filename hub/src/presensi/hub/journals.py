"""The hub's side of the stations' journals: one call's records of one journal placed into its
histories (presensi.hub.branches), stored, and each history's committed prefix moved on.

Runs inside the store's transaction, with the journal's rows locked. Exactly once: a record is
stored once per (station, journal, branch, seq); the ack names the journal, the seq and the
stored hash, and never goes past the highest seq the station sent in the call, so it never
speaks for records the station does not have.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from presensi.hub.branches import Arrival, Branch, JournalView, Kind, Placed, Stored
from presensi.hub.model import (
    ALERT_CHAIN_BREAK,
    ALERT_EDITED,
    ALERT_JOURNAL_FORK,
    ALERT_JOURNAL_NEW,
    CHAIN_BREAK,
    CONFLICTING_DUPLICATE,
    Committed,
)
from presensi.protocol.record import GENESIS

if TYPE_CHECKING:
    from presensi.hub.store import Database

log = logging.getLogger(__name__)

_SEQ_HOLE_READ_THROUGH = 1000  # read a hole this small between two runs rather than query twice
_ADVANCE_CHUNK_MAX = 4096

_INSERT_SCAN = """
INSERT INTO scans (station, journal, fork, seq, scan_id, employee, serial, outcome, reason,
                   direction, event, wall_ms, location, clock_synced, boot_id, mono_ns,
                   prev_hash, hash, body, received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (station, journal, fork, seq) DO NOTHING
"""

_BRANCH_COLUMNS = "fork, parent_fork, fork_seq, committed_upto, committed_hash"

# (received_ms, station, journal, kind, subject, detail, evidence): the detail a plain English
# sentence, the evidence the same facts as data (the console words them in its reader's language)
RaiseAlert = Callable[[int, str, str | None, str, str, str, dict[str, Any]], None]
# (received_ms, topic, station, reason, payload, seq, detail)
WriteReject = Callable[[int, str, str, str, bytes, int | None, str], None]


@dataclass
class JournalOutcome:
    ack: Committed | None
    inserted: int
    duplicates: int
    edited: list[int]  # seqs that arrived edited (same scan id, other content)
    new_branches: int
    last_scan_ms: int | None
    boots: dict[str, bool]  # boot ids of the records inserted -> any of them not synced


class JournalLedger:
    def __init__(self, db: Database, raise_alert: RaiseAlert, write_reject: WriteReject) -> None:
        self._db = db
        self._raise = raise_alert
        self._reject = write_reject

    # -- the journal row --------------------------------------------------------------------

    def ensure(self, station: str, journal: str, received_ms: int) -> bool:
        """Make the journal's branch-0 row if it is new (and say so: an alert when the station
        already had another journal). Returns True when it was made."""
        made = self._db.execute(
            "INSERT INTO journals (station, journal, fork, fork_seq, ordinal, committed_upto, "
            "committed_hash, first_received_ms) VALUES (?, ?, 0, 1, (SELECT COALESCE(MAX("
            "ordinal), 0) + 1 FROM journals WHERE station = ?), 0, ?, ?) "
            "ON CONFLICT (station, journal, fork) DO NOTHING RETURNING fork",
            (station, journal, station, GENESIS, received_ms),
        )
        if not made:
            return False
        others = self._db.execute(
            "SELECT journal, committed_upto, reported_last_seq FROM journals "
            "WHERE station = ? AND journal <> ? AND fork = 0 ORDER BY ordinal",
            (station, journal),
        )
        if others:
            tails = "; ".join(
                f"{j}: committed {c}"
                + (f" of {r} it reported ({r - c} never arrived)" if r and r > c else "")
                for j, c, r in others
            )
            self._raise(
                received_ms,
                station,
                journal,
                ALERT_JOURNAL_NEW,
                journal,
                f"station {station} began journal {journal} beside {len(others)} older "
                f"(card replaced or re-flashed, or it found the hub ahead of its card): {tails}",
                {
                    "station": station,
                    "journal": journal,
                    "older": [
                        {
                            "journal": j,
                            "committed": int(c),
                            "reported": None if r is None else int(r),
                        }
                        for j, c, r in others
                    ],
                },
            )
        return True

    def _branches(self, station: str, journal: str) -> dict[int, Branch]:
        # for_update is a constant of the engine, never input
        rows = self._db.execute(
            f"SELECT {_BRANCH_COLUMNS} FROM journals WHERE station = ? AND journal = ? "  # noqa: S608
            "ORDER BY fork" + self._db.for_update,
            (station, journal),
        )
        return {
            int(fork): Branch(
                int(fork),
                None if parent is None else int(parent),
                int(fork_seq),
                int(upto),
                committed_hash,
            )
            for fork, parent, fork_seq, upto, committed_hash in rows
        }

    # -- one call's records -----------------------------------------------------------------

    def ingest(
        self, station: str, journal: str, arrivals: Sequence[Arrival], received_ms: int
    ) -> JournalOutcome:
        self.ensure(station, journal, received_ms)
        view = JournalView(self._branches(station, journal))
        self._load_rows(station, journal, view, [a.record.seq for a in arrivals])
        placed = [view.place(a) for a in sorted(arrivals, key=lambda a: a.record.seq)]
        fresh = [p for p in placed if p.kind is Kind.INSERT]
        inserted = self._insert(station, journal, fresh, received_ms)
        duplicates = sum(p.kind is Kind.DUPLICATE for p in placed) + len(fresh) - inserted
        self._report(station, journal, placed, received_ms)
        reported = {(p.fork, p.arrival.record.seq) for p in placed if p.chain_break}
        for fork in sorted(view.branches):  # parents before the branches made from them
            self._advance(station, journal, view, view.branches[fork], received_ms, reported)
        self._save(station, journal, view, fresh, received_ms)
        return JournalOutcome(
            ack=self._ack(station, journal, view, placed),
            inserted=inserted,
            duplicates=duplicates,
            edited=[p.arrival.record.seq for p in placed if p.kind is Kind.EDITED],
            new_branches=sum(p.new_branch for p in placed),
            last_scan_ms=max((p.arrival.record.wall_ms for p in fresh), default=None),
            boots=_boots(fresh),
        )

    def _load_rows(
        self, station: str, journal: str, view: JournalView, seqs: Sequence[int]
    ) -> None:
        wanted = sorted({s for seq in seqs for s in (seq - 1, seq) if s >= 1})
        for first, last in _runs(wanted):
            rows = self._db.execute(
                "SELECT seq, fork, hash, scan_id FROM scans WHERE station = ? AND journal = ? "
                "AND seq BETWEEN ? AND ?",
                (station, journal, first, last),
            )
            for seq, fork, row_hash, scan_id in rows:
                view.rows.setdefault(int(seq), []).append(Stored(int(fork), row_hash, scan_id))

    def _insert(self, station: str, journal: str, fresh: list[Placed], received_ms: int) -> int:
        if not fresh:
            return 0
        rows = [
            (
                station,
                journal,
                p.fork,
                r.seq,
                r.scan_id,
                r.employee,
                r.serial,
                str(r.outcome),
                str(r.reason),
                r.direction,
                r.event,
                r.wall_ms,
                r.location,
                r.clock_synced,
                r.boot_id,
                r.mono_ns,
                r.prev_hash,
                p.arrival.hash,
                p.arrival.body.decode(),
                received_ms,
            )
            for p in fresh
            for r in (p.arrival.record,)
        ]
        return self._db.executemany(_INSERT_SCAN, rows)

    def _report(self, station: str, journal: str, placed: list[Placed], received_ms: int) -> None:
        topic = f"presensi/v1/stations/{station}/scans"
        for p in placed:
            seq = p.arrival.record.seq
            if p.kind is Kind.EDITED:
                detail = (
                    f"station {station} journal {journal} seq {seq}: scan "
                    f"{p.arrival.record.scan_id} arrived again with other content (hash "
                    f"{p.arrival.hash}, stored {p.stored_hash}); kept the stored one"
                )
                self._reject(
                    received_ms, topic, station, CONFLICTING_DUPLICATE, p.arrival.body, seq, detail
                )
                evidence = {
                    "station": station,
                    "journal": journal,
                    "seq": seq,
                    "scan_id": p.arrival.record.scan_id,
                    "hash": p.arrival.hash,
                    "stored_hash": p.stored_hash,
                }
                self._raise(
                    received_ms,
                    station,
                    journal,
                    ALERT_EDITED,
                    f"{journal}/{seq}",
                    detail,
                    evidence,
                )
            if p.new_branch:
                self._raise(
                    received_ms,
                    station,
                    journal,
                    ALERT_JOURNAL_FORK,
                    f"{journal}/{p.fork}",
                    f"station {station} journal {journal}: a second history from seq {seq} "
                    f"(kept as branch {p.fork} beside the first): a card restored from an "
                    "old image that scanned before it learned, or a cloned card",
                    {"station": station, "journal": journal, "seq": seq, "branch": p.fork},
                )
            if p.chain_break:
                self._chain_break(
                    station, journal, seq, p.arrival.body, p.arrival.record.prev_hash, received_ms
                )

    def _chain_break(
        self, station: str, journal: str, seq: int, body: bytes, prev: str, received_ms: int
    ) -> None:
        detail = (
            f"station {station} journal {journal} seq {seq}: prev_hash {prev} is not the hash "
            f"of its seq {seq - 1}"
        )
        topic = f"presensi/v1/stations/{station}/scans"
        self._reject(received_ms, topic, station, CHAIN_BREAK, body, seq, detail)
        evidence = {"station": station, "journal": journal, "seq": seq, "prev_hash": prev}
        self._raise(
            received_ms, station, journal, ALERT_CHAIN_BREAK, f"{journal}/{seq}", detail, evidence
        )

    # -- committed prefixes -----------------------------------------------------------------

    def _advance(
        self,
        station: str,
        journal: str,
        view: JournalView,
        branch: Branch,
        received_ms: int,
        reported: set[tuple[int, int]],
    ) -> None:
        """Move the branch's mark over its stored next seqs, checking the chain on the way:
        a break is reported, never a reason to hold attendance back."""
        if branch.parent is not None and branch.committed_upto < branch.fork_seq - 1:
            parent = view.branches[branch.parent]
            if parent.committed_upto < branch.fork_seq - 1:
                branch.committed_upto, branch.committed_hash = (
                    parent.committed_upto,
                    parent.committed_hash,
                )
                return
            branch.committed_upto = branch.fork_seq - 1
            branch.committed_hash = self._hash_at(
                station, journal, view, branch.parent, branch.fork_seq - 1
            )
        upto, upto_hash = branch.committed_upto, branch.committed_hash
        chunk = 16
        while True:
            rows = self._db.execute(
                "SELECT seq, hash, prev_hash FROM scans WHERE station = ? AND journal = ? "
                "AND fork = ? AND seq > ? ORDER BY seq LIMIT ?",
                (station, journal, branch.fork, upto, chunk),
            )
            for seq, row_hash, prev_hash in rows:
                if seq != upto + 1:
                    branch.committed_upto, branch.committed_hash = upto, upto_hash
                    return
                # a break placed in this call was reported when it was placed
                broken = upto_hash is not None and prev_hash != upto_hash
                if broken and (branch.fork, int(seq)) not in reported:
                    body = self._db.execute(
                        "SELECT body FROM scans WHERE station = ? AND journal = ? AND fork = ? "
                        "AND seq = ?",
                        (station, journal, branch.fork, seq),
                    )[0][0]
                    self._chain_break(
                        station, journal, int(seq), str(body).encode(), prev_hash, received_ms
                    )
                upto, upto_hash = int(seq), row_hash
            if len(rows) < chunk:
                break
            chunk = min(chunk * 4, _ADVANCE_CHUNK_MAX)
        branch.committed_upto, branch.committed_hash = upto, upto_hash

    def _hash_at(
        self, station: str, journal: str, view: JournalView, fork: int, seq: int
    ) -> str | None:
        known = view.hash_at(fork, seq)
        if known is not None:
            return known
        rows = self._db.execute(
            "SELECT hash FROM scans WHERE station = ? AND journal = ? AND fork = ? AND seq = ?",
            (station, journal, view.owner(fork, seq), seq),
        )
        return str(rows[0][0]) if rows else None

    def _save(
        self,
        station: str,
        journal: str,
        view: JournalView,
        fresh: list[Placed],
        received_ms: int,
    ) -> None:
        # the scan times of records stamped by a synced clock: what tells two live histories
        # apart from one after the other (an unsynced clock may be hours off)
        walls_of: dict[int, list[int]] = {}
        count: dict[int, int] = {}
        for p in fresh:
            count[p.fork] = count.get(p.fork, 0) + 1
            if p.arrival.record.clock_synced:
                walls_of.setdefault(p.fork, []).append(p.arrival.record.wall_ms)
        for fork, branch in sorted(view.branches.items()):
            walls = walls_of.get(fork, [])
            inserted = count.get(fork, 0)
            if branch.new:
                self._db.execute(
                    "INSERT INTO journals (station, journal, fork, parent_fork, fork_seq, "
                    "ordinal, committed_upto, committed_hash, first_received_ms) "
                    "VALUES (?, ?, ?, ?, ?, (SELECT ordinal FROM journals WHERE station = ? AND "
                    "journal = ? AND fork = 0), ?, ?, ?)",
                    (
                        station,
                        journal,
                        fork,
                        branch.parent,
                        branch.fork_seq,
                        station,
                        journal,
                        branch.committed_upto,
                        branch.committed_hash,
                        received_ms,
                    ),
                )
            self._db.execute(
                "UPDATE journals SET committed_upto = ?, committed_hash = ?, "
                "records = records + ?, "
                "first_wall_ms = CASE WHEN first_wall_ms IS NULL OR first_wall_ms > ? "
                "THEN ? ELSE first_wall_ms END, "
                "last_wall_ms = CASE WHEN last_wall_ms IS NULL OR last_wall_ms < ? "
                "THEN ? ELSE last_wall_ms END, "
                "last_received_ms = CASE WHEN ? > 0 THEN ? ELSE last_received_ms END "
                "WHERE station = ? AND journal = ? AND fork = ?",
                (
                    branch.committed_upto,
                    branch.committed_hash,
                    inserted,
                    min(walls, default=2**62),
                    min(walls, default=None),
                    max(walls, default=-1),
                    max(walls, default=None),
                    inserted,
                    received_ms,
                    station,
                    journal,
                    fork,
                ),
            )

    def _ack(
        self, station: str, journal: str, view: JournalView, placed: list[Placed]
    ) -> Committed | None:
        """For the branch of the station's newest record in the call: committed 1..upto, never
        past that record."""
        last = next((p for p in reversed(placed) if p.kind is not Kind.EDITED), None)
        if last is None:
            return None
        branch = view.branches[last.fork]
        seq = last.arrival.record.seq
        upto = min(branch.committed_upto, seq)
        if upto <= 0:
            return None
        digest = last.arrival.hash if upto == seq else branch.committed_hash
        if digest is None:
            return None
        return Committed(station, journal, upto, digest, forked=branch.fork != 0)


def _boots(fresh: list[Placed]) -> dict[str, bool]:
    boots: dict[str, bool] = {}
    for p in fresh:
        record = p.arrival.record
        boots[record.boot_id] = boots.get(record.boot_id, False) or not record.clock_synced
    return boots


def correct_times(db: Database, station: str, boots: dict[str, bool]) -> list[tuple[str, int]]:
    """Give each scan of these boots that an unsynced or stepped clock stamped its time from
    the monotonic clock and the offset of the nearest synced scan of the same boot (the design's
    time model: within a boot the monotonic clock does not jump). Returns (employee, time) of
    each person's scan whose time it set, at the time it had and the one it has now: the work
    days on either side are derived again (presensi.hub.attendance.marks)."""
    moved: list[tuple[str, int]] = []
    for boot, unsynced in sorted(boots.items()):
        if not unsynced:
            # synced scans only: worth a look if the boot holds uncorrected unsynced ones
            pending = db.execute(
                "SELECT 1 FROM scans WHERE station = ? AND boot_id = ? AND NOT clock_synced "
                "AND corrected_wall_ms IS NULL LIMIT 1",
                (station, boot),
            )
            if not pending:
                continue
        rows = db.execute(
            "SELECT journal, fork, seq, wall_ms, mono_ns, clock_synced, corrected_wall_ms, "
            "employee FROM scans WHERE station = ? AND boot_id = ? ORDER BY mono_ns",
            (station, boot),
        )
        synced = [(int(r[4]), int(r[3]) - int(r[4]) // 1_000_000) for r in rows if r[5]]
        if not synced:
            continue  # nothing of this boot is trusted yet: its times stay flagged
        monos = [m for m, _ in synced]
        for journal, fork, seq, wall, mono, is_synced, old, employee in rows:
            if is_synced:
                continue
            i = bisect.bisect_left(monos, int(mono))
            near = min(
                (synced[j] for j in (i - 1, i) if 0 <= j < len(synced)),
                key=lambda pair: abs(pair[0] - int(mono)),
            )
            value = int(mono) // 1_000_000 + near[1]
            if value != old:
                db.execute(
                    "UPDATE scans SET corrected_wall_ms = ? WHERE station = ? AND journal = ? "
                    "AND fork = ? AND seq = ?",
                    (value, station, journal, fork, seq),
                )
                if employee:
                    moved += [
                        (str(employee), int(wall if old is None else old)),
                        (str(employee), value),
                    ]
    return moved


def _runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted seqs as (first, last) ranges; small holes are read through."""
    runs: list[tuple[int, int]] = []
    for seq in seqs:
        if runs and seq - runs[-1][1] <= _SEQ_HOLE_READ_THROUGH:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs
