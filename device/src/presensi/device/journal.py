"""The journal: the station's durable outbox of scan records (SQLite, WAL, synchronous=FULL).

A record is committed (fsynced) before the station signals, so a signal always means "stored".
Sequence numbers are contiguous per station and never reused; each record carries the hash of
the previous one. Records are deleted only once acked by the hub AND older than the retention.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from presensi.device.errors import JournalCorrupt, JournalError
from presensi.protocol.record import GENESIS, ScanRecord, decode_record

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq     INTEGER PRIMARY KEY,
    wall_ms INTEGER NOT NULL,
    hash    BLOB NOT NULL,
    body    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""


class Journal:
    """Append-only record store with an acked-up-to mark. Not thread-safe: one owner thread."""

    def __init__(
        self,
        path: str | Path,
        station: str,
        *,
        min_free_bytes: int = 64 << 20,
        check_integrity: bool = True,
    ) -> None:
        self.path = Path(path)
        self.station = station
        self.min_free_bytes = min_free_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")  # the uplink's connection writes acks
            if check_integrity:
                self._check_integrity()
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(f"{self.path}: {exc}") from exc
        self._init_meta()
        self.last_seq, self.last_hash = self._tail()

    # -- opening ---------------------------------------------------------------------------

    def _check_integrity(self) -> None:
        rows = self._db.execute("PRAGMA integrity_check").fetchall()
        if rows != [("ok",)]:
            raise JournalCorrupt(f"{self.path}: integrity check failed: {rows[:3]}")

    def _init_meta(self) -> None:
        stored = self._meta("station")
        if stored is None:
            with self._tx():
                self._set_meta("station", self.station)
                self._set_meta("acked_upto", 0)
                self._set_meta("base_seq", 0)  # the seq before the first record kept
                self._set_meta("base_hash", GENESIS)
        elif stored != self.station:
            self._db.close()
            raise JournalError(
                f"{self.path} belongs to station {stored!r}, not {self.station!r}. "
                "Fix: point journal.path at this station's own journal"
            )

    def _tail(self) -> tuple[int, str]:
        row = self._db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return int(self._meta("base_seq") or 0), str(self._meta("base_hash") or GENESIS)
        return int(row[0]), bytes(row[1]).hex()

    # -- meta ------------------------------------------------------------------------------

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------

    def append(self, draft: ScanRecord) -> ScanRecord:
        """Give `draft` the next seq and the chain hash, commit it durably, and return it.

        Raises JournalError (and stores nothing) if the disk is nearly full or the write fails.
        """
        self._check_free_space()
        record = msgspec.structs.replace(
            draft, station=self.station, seq=self.last_seq + 1, prev_hash=self.last_hash
        )
        digest = record.digest()
        try:
            with self._tx():
                self._db.execute(
                    "INSERT INTO records (seq, wall_ms, hash, body) VALUES (?, ?, ?, ?)",
                    (record.seq, record.wall_ms, bytes.fromhex(digest), record.canonical()),
                )
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot store the scan: {exc}") from exc
        self.last_seq, self.last_hash = record.seq, digest
        return record

    def _check_free_space(self) -> None:
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise JournalError(
                f"{self.path.parent}: only {free >> 20} MB free (reserve "
                f"{self.min_free_bytes >> 20} MB). Fix: free space or let the uplink deliver"
            )

    def ack(self, upto: int) -> int:
        """Mark records 1..upto as committed by the hub (never beyond what exists, never back).

        Returns the acked mark after the call. Safe from a second connection (the uplink's).
        """
        with self._tx():
            last = self._db.execute("SELECT max(seq) FROM records").fetchone()[0]
            upto = min(upto, max(int(last or 0), self.base[0]))
            acked = self.acked_upto
            if upto > acked:
                self._set_meta("acked_upto", upto)
                acked = upto
        return acked

    def purge(self, retention_days: int, now_ms: int | None = None) -> int:
        """Delete acked records older than the retention; returns how many went."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        cutoff = now_ms - retention_days * 86_400_000
        acked = self.acked_upto
        row = self._db.execute(
            "SELECT max(seq) FROM records WHERE seq <= ? AND wall_ms < ?", (acked, cutoff)
        ).fetchone()
        last = row[0]
        if last is None:
            return 0
        last_hash = self._db.execute("SELECT hash FROM records WHERE seq = ?", (last,)).fetchone()
        with self._tx():
            cur = self._db.execute("DELETE FROM records WHERE seq <= ?", (last,))
            self._set_meta("base_seq", last)
            self._set_meta("base_hash", bytes(last_hash[0]).hex())
        return cur.rowcount

    # -- reading ---------------------------------------------------------------------------

    @property
    def acked_upto(self) -> int:
        return int(self._meta("acked_upto") or 0)

    @property
    def base(self) -> tuple[int, str]:
        """(seq, hash) of the last record purged: where the kept chain starts."""
        return int(self._meta("base_seq") or 0), str(self._meta("base_hash") or GENESIS)

    def records(self, first: int = 1, last: int | None = None) -> Iterator[ScanRecord]:
        last = self.last_seq if last is None else last
        cur = self._db.execute(
            "SELECT body FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        )
        for (body,) in cur:
            yield decode_record(body)

    def pending(self, after: int, limit: int) -> list[ScanRecord]:
        """Up to `limit` records with seq > `after`, read fresh from the file (for the uplink,
        whose connection does not see the scan loop's in-memory tail)."""
        rows = self._db.execute(
            "SELECT body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        return [decode_record(body) for (body,) in rows]

    def newest_seq(self) -> int:
        row = self._db.execute("SELECT max(seq) FROM records").fetchone()
        return max(int(row[0] or 0), self.base[0])

    def unacked(self, limit: int | None = None) -> list[ScanRecord]:
        first = max(self.acked_upto, self.base[0]) + 1
        last = self.last_seq if limit is None else min(self.last_seq, first + limit - 1)
        return list(self.records(first, last))

    def recent(self, since_wall_ms: int) -> Iterator[ScanRecord]:
        """Records from the tail back to the first one older than `since_wall_ms`, oldest first."""
        rows = []
        for (body,) in self._db.execute("SELECT body FROM records ORDER BY seq DESC"):
            record = decode_record(body)
            if record.wall_ms < since_wall_ms:
                break
            rows.append(record)
        return reversed(rows)

    def hash_of(self, seq: int) -> str | None:
        row = self._db.execute("SELECT hash FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else bytes(row[0]).hex()

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def open_or_recover(
    path: str | Path, station: str, *, min_free_bytes: int = 64 << 20
) -> tuple[Journal, Path | None]:
    """Open the journal; if it is corrupt, move it aside (never delete) and start a new one.

    The new journal continues the sequence after the highest seq that can still be read from the
    corrupt file, so a seq is never reused. Returns the journal and where the corrupt file went.
    """
    try:
        return Journal(path, station, min_free_bytes=min_free_bytes), None
    except JournalCorrupt as exc:
        log.error("journal corrupt, moving it aside: %s", exc)
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    salvaged = _salvage_last_seq(path)
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.rename(f"{aside}{suffix}")
    journal = Journal(path, station, min_free_bytes=min_free_bytes)
    if salvaged:
        with journal._tx():
            journal._set_meta("base_seq", salvaged)
        journal.last_seq = salvaged
    return journal, aside


def _salvage_last_seq(path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT max(seq) FROM records").fetchone()
            return int(row[0] or 0)
        finally:
            db.close()
    except sqlite3.Error:
        return 0
