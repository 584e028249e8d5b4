"""The journal: the station's durable outbox of scan records (SQLite, WAL, synchronous=FULL).

A record is committed (fsynced) before the station signals, so a signal always means "stored".
The file holds one or more journals, each with its own random id (schema 2 records carry it),
its own contiguous sequence 1, 2, 3 ... and its own hash chain. The station writes into the
current journal only. It starts a new one ("rotates") when the old one can no longer be
trusted to be its alone: the hub's ack shows records this file does not have (the card was
restored from an old image, or cloned), or the hub says it keeps this history beside another.
A retired journal's records stay and are delivered as usual; nothing is merged or renumbered.

Records are deleted only once acked by the hub AND older than the retention.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from presensi.device.errors import JournalCorrupt, JournalError, JournalUnavailable
from presensi.protocol.errors import ProtocolError
from presensi.protocol.ids import new_journal_id
from presensi.protocol.record import GENESIS, LEGACY_JOURNAL, ScanRecord, decode_record

log = logging.getLogger(__name__)

FILE_SCHEMA = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journals (
    jid         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    retired_ms  INTEGER,
    retired_why TEXT,
    acked_upto  INTEGER NOT NULL DEFAULT 0,
    base_seq    INTEGER NOT NULL DEFAULT 0,
    base_hash   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    jid     INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    hash    BLOB NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (jid, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

# a file of schema 1: one journal, records keyed by seq alone, its marks in meta
_UPGRADE_FROM_1 = """
CREATE TABLE journals (
    jid         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL,
    retired_ms  INTEGER,
    retired_why TEXT,
    acked_upto  INTEGER NOT NULL DEFAULT 0,
    base_seq    INTEGER NOT NULL DEFAULT 0,
    base_hash   TEXT NOT NULL
);
CREATE TABLE records_2 (
    jid     INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    hash    BLOB NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (jid, seq)
) WITHOUT ROWID;
INSERT INTO records_2 (jid, seq, wall_ms, hash, body)
    SELECT 1, seq, wall_ms, hash, body FROM records;
DROP TABLE records;
ALTER TABLE records_2 RENAME TO records;
"""

# what SQLite says when the folder or file cannot be written: not corruption
_UNAVAILABLE = ("readonly", "unable to open", "permission", "disk i/o error", "locked")


class AckOutcome(enum.Enum):
    ACKED = "acked"  # the mark moved
    ALREADY = "already"  # nothing new
    AHEAD = "ahead"  # the hub holds records of this journal beyond the newest here
    MISMATCH = "mismatch"  # the hub's record there is not ours: another history of the journal
    UNKNOWN = "unknown"  # not a journal of this file


@dataclass(frozen=True)
class JournalInfo:
    jid: int
    id: str
    created_ms: int
    retired_ms: int | None
    retired_why: str | None
    acked_upto: int
    base_seq: int  # the last seq purged: the kept chain starts after it
    base_hash: str
    newest_seq: int

    @property
    def unacked(self) -> int:
        return max(0, self.newest_seq - self.acked_upto)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Journal:
    """Append-only record store. One owner thread writes records; another connection (the
    uplink's own Journal on the same file) may ack and read."""

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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalUnavailable(
                f"{self.path.parent}: cannot create the folder: {exc}"
            ) from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _classify(self.path, exc) from exc
        try:
            self._db.execute("PRAGMA busy_timeout=5000")  # the uplink's connection writes acks
            if check_integrity:
                self._check_integrity()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._open_schema()
            self._init_station()
            self._load_current()
        except sqlite3.Error as exc:
            self._db.close()
            raise _classify(self.path, exc) from exc
        except JournalError:
            self._db.close()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _check_integrity(self) -> None:
        rows = self._db.execute("PRAGMA integrity_check").fetchall()
        if rows != [("ok",)]:
            raise JournalCorrupt(f"{self.path}: integrity check failed: {rows[:3]}")

    def _open_schema(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "records" in tables and "journals" not in tables:
            self._upgrade_from_1()
        self._db.executescript(_SCHEMA)

    def _upgrade_from_1(self) -> None:
        """Schema 1 kept one journal: it becomes the legacy journal (its records stay schema 1,
        byte for byte), retired at once, and a new journal takes the next scan."""
        with self._tx():
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            for statement in _UPGRADE_FROM_1.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT INTO journals (jid, id, created_ms, retired_ms, retired_why, acked_upto, "
                "base_seq, base_hash) VALUES (1, ?, 0, ?, 'upgrade', ?, ?, ?)",
                (
                    LEGACY_JOURNAL,
                    _now_ms(),
                    int(meta.get("acked_upto") or 0),
                    int(meta.get("base_seq") or 0),
                    str(meta.get("base_hash") or GENESIS),
                ),
            )
            for key in ("acked_upto", "base_seq", "base_hash"):
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            self._set_meta("schema", FILE_SCHEMA)
        log.info("%s: upgraded to journal schema %d", self.path, FILE_SCHEMA)

    def _init_station(self) -> None:
        stored = self._meta("station")
        if stored is None:
            with self._tx():
                self._set_meta("station", self.station)
                self._set_meta("schema", FILE_SCHEMA)
        elif stored != self.station:
            raise JournalError(
                f"{self.path} belongs to station {stored!r}, not {self.station!r}. "
                "Fix: point journal.path at this station's own journal"
            )

    def _load_current(self) -> None:
        row = self._db.execute(
            "SELECT jid FROM journals WHERE retired_ms IS NULL ORDER BY jid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            with self._tx():
                jid = self._create_journal()
        else:
            jid = int(row[0])
        self._set_current(jid)

    def _create_journal(self) -> int:
        cur = self._db.execute(
            "INSERT INTO journals (id, created_ms, base_hash) VALUES (?, ?, ?)",
            (new_journal_id(), _now_ms(), GENESIS),
        )
        return int(cur.lastrowid or 0)

    def _set_current(self, jid: int) -> None:
        self._stale = False
        info = self._info(jid)
        self.jid, self.journal_id = info.jid, info.id
        self.last_seq, self.last_hash = self._tail(info)

    def _tail(self, info: JournalInfo) -> tuple[int, str]:
        row = self._db.execute(
            "SELECT seq, hash FROM records WHERE jid = ? ORDER BY seq DESC LIMIT 1", (info.jid,)
        ).fetchone()
        if row is None:
            return info.base_seq, info.base_hash
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
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------

    def append(self, draft: ScanRecord) -> ScanRecord:
        """Give `draft` the current journal, the next seq and the chain hash, commit it
        durably, and return it. Raises JournalError (and stores nothing) if the disk is nearly
        full or the write fails. The current journal is read inside the write transaction, so a
        rotation by another connection (the uplink's) takes effect at the very next scan."""
        self._check_free_space()
        try:
            with self._tx():
                self._follow_rotation()
                record = msgspec.structs.replace(
                    draft,
                    v=2,
                    station=self.station,
                    journal=self.journal_id,
                    seq=self.last_seq + 1,
                    prev_hash=self.last_hash,
                )
                body = record.canonical()
                _readable(body)  # never store a record that neither the station nor the hub reads
                digest = hashlib.sha256(body).hexdigest()
                self._db.execute(
                    "INSERT INTO records (jid, seq, wall_ms, hash, body) VALUES (?, ?, ?, ?, ?)",
                    (self.jid, record.seq, record.wall_ms, bytes.fromhex(digest), body),
                )
        except sqlite3.Error as exc:
            self._forget_tail()
            raise JournalError(f"{self.path}: cannot store the scan: {exc}") from exc
        self.last_seq, self.last_hash = record.seq, digest
        return record

    def _follow_rotation(self) -> None:
        row = self._db.execute(
            "SELECT jid FROM journals WHERE retired_ms IS NULL ORDER BY jid DESC LIMIT 1"
        ).fetchone()
        if row is None:  # every journal retired by hand: start one
            self._set_current(self._create_journal())
        elif int(row[0]) != self.jid or self._stale:
            self._set_current(int(row[0]))
        self._stale = False

    def _forget_tail(self) -> None:
        """After a failed write, read the tail from the file again before the next append."""
        self._stale = True

    def rotate(self, why: str) -> str:
        """Retire the current journal and start a new one; returns the new journal's id.
        Raises JournalError if the file cannot be written (the current journal stays)."""
        try:
            with self._tx():
                self._db.execute(
                    "UPDATE journals SET retired_ms = ?, retired_why = ? WHERE jid = ?",
                    (_now_ms(), why, self.jid),
                )
                jid = self._create_journal()
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot start a new journal: {exc}") from exc
        old = self.journal_id
        self._set_current(jid)
        log.warning(
            "journal %s retired (%s); scans now go to journal %s", old, why, self.journal_id
        )
        return self.journal_id

    def _check_free_space(self) -> None:
        try:
            st = os.statvfs(self.path.parent)
        except OSError as exc:
            raise JournalError(f"{self.path.parent}: cannot check free space: {exc}") from exc
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise JournalError(
                f"{self.path.parent}: only {free >> 20} MB free (reserve "
                f"{self.min_free_bytes >> 20} MB). Fix: free space or let the uplink deliver"
            )

    def ack(self, journal: str, upto: int, digest: str) -> AckOutcome:
        """The hub says it committed 1..upto of `journal` and that its record upto hashes to
        `digest`. The mark moves only when this file holds that very record: an ack never
        speaks for records the station does not have. Raises JournalError if the file cannot
        be written (the caller keeps the ack and tries again)."""
        try:
            with self._tx():
                row = self._db.execute(
                    "SELECT jid, acked_upto, base_seq, base_hash FROM journals WHERE id = ?",
                    (journal,),
                ).fetchone()
                if row is None:
                    return AckOutcome.UNKNOWN
                jid, acked, base_seq, base_hash = int(row[0]), int(row[1]), int(row[2]), row[3]
                if upto <= acked:
                    return AckOutcome.ALREADY
                if upto < base_seq:
                    return AckOutcome.ALREADY  # purged records were acked before
                newest = self._newest(jid, base_seq)
                if upto > newest:
                    return AckOutcome.AHEAD
                ours = base_hash if upto == base_seq else self._hash(jid, upto)
                if ours != digest:
                    return AckOutcome.MISMATCH
                self._db.execute("UPDATE journals SET acked_upto = ? WHERE jid = ?", (upto, jid))
                return AckOutcome.ACKED
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot record the hub's ack: {exc}") from exc

    def purge(self, retention_days: int, now_ms: int | None = None) -> int:
        """Delete acked records older than the retention, in every journal; returns how many."""
        now_ms = _now_ms() if now_ms is None else now_ms
        cutoff = now_ms - retention_days * 86_400_000
        gone = 0
        for info in self.journals():
            row = self._db.execute(
                "SELECT max(seq) FROM records WHERE jid = ? AND seq <= ? AND wall_ms < ?",
                (info.jid, info.acked_upto, cutoff),
            ).fetchone()
            last = row[0]
            if last is None:
                continue
            last_hash = self._hash(info.jid, int(last))
            with self._tx():
                cur = self._db.execute(
                    "DELETE FROM records WHERE jid = ? AND seq <= ?", (info.jid, last)
                )
                self._db.execute(
                    "UPDATE journals SET base_seq = ?, base_hash = ? WHERE jid = ?",
                    (last, last_hash, info.jid),
                )
            gone += cur.rowcount
        return gone

    # -- reading ---------------------------------------------------------------------------

    _INFO = (
        "SELECT jid, id, created_ms, retired_ms, retired_why, acked_upto, base_seq, base_hash "
        "FROM journals"
    )

    def journals(self) -> list[JournalInfo]:
        """Every journal of the file, oldest first, read fresh."""
        rows = self._db.execute(self._INFO + " ORDER BY jid").fetchall()
        return [self._row_info(r) for r in rows]

    def _row_info(self, r: tuple[Any, ...]) -> JournalInfo:
        return JournalInfo(
            jid=int(r[0]),
            id=r[1],
            created_ms=int(r[2]),
            retired_ms=None if r[3] is None else int(r[3]),
            retired_why=r[4],
            acked_upto=int(r[5]),
            base_seq=int(r[6]),
            base_hash=r[7],
            newest_seq=self._newest(int(r[0]), int(r[6])),
        )

    def _info(self, jid: int) -> JournalInfo:
        row = self._db.execute(self._INFO + " WHERE jid = ?", (jid,)).fetchone()
        if row is None:
            raise JournalError(f"{self.path}: no journal {jid}")
        return self._row_info(row)

    def journal_named(self, journal: str) -> JournalInfo | None:
        row = self._db.execute(self._INFO + " WHERE id = ?", (journal,)).fetchone()
        return None if row is None else self._row_info(row)

    def _newest(self, jid: int, base_seq: int) -> int:
        row = self._db.execute("SELECT max(seq) FROM records WHERE jid = ?", (jid,)).fetchone()
        return max(int(row[0] or 0), base_seq)

    def _hash(self, jid: int, seq: int) -> str | None:
        row = self._db.execute(
            "SELECT hash FROM records WHERE jid = ? AND seq = ?", (jid, seq)
        ).fetchone()
        return None if row is None else bytes(row[0]).hex()

    @property
    def current(self) -> JournalInfo:
        return self._info(self.jid)

    @property
    def acked_upto(self) -> int:
        """The current journal's acked mark."""
        return self.current.acked_upto

    @property
    def base(self) -> tuple[int, str]:
        """(seq, hash) of the current journal's last purged record: where its chain starts."""
        info = self.current
        return info.base_seq, info.base_hash

    def records(
        self, first: int = 1, last: int | None = None, *, journal: str | None = None
    ) -> Iterator[ScanRecord]:
        """Records first..last of a journal (default: the current one), in order."""
        jid = self.jid if journal is None else self._jid_of(journal)
        if last is None:
            last = self.last_seq if jid == self.jid else self._newest(jid, 0)
        cur = self._db.execute(
            "SELECT body FROM records WHERE jid = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (jid, first, last),
        )
        for (body,) in cur:
            yield decode_record(body)

    def _jid_of(self, journal: str) -> int:
        info = self.journal_named(journal)
        if info is None:
            raise JournalError(f"{self.path}: no journal {journal}")
        return info.jid

    def pending(self, journal: str, after: int, limit: int) -> list[ScanRecord]:
        """Up to `limit` records of `journal` with seq > `after`, read fresh from the file (for
        the uplink, whose connection does not see the scan loop's in-memory tail)."""
        rows = self._db.execute(
            "SELECT body FROM records WHERE jid = ? AND seq > ? ORDER BY seq LIMIT ?",
            (self._jid_of(journal), after, limit),
        )
        return [decode_record(body) for (body,) in rows]

    def newest_seq(self) -> int:
        """The current journal's newest seq, read fresh."""
        return self.current.newest_seq

    def unacked(self, limit: int | None = None) -> list[ScanRecord]:
        """The current journal's unacked records."""
        first = max(self.acked_upto, self.base[0]) + 1
        last = self.last_seq if limit is None else min(self.last_seq, first + limit - 1)
        return list(self.records(first, last))

    def all_acked(self) -> bool:
        return all(info.unacked == 0 for info in self.journals())

    def recent(self, since_wall_ms: int) -> Iterator[ScanRecord]:
        """Records of every journal back to the first one older than `since_wall_ms`, oldest
        first (newer journals hold the newer scans)."""
        rows = []
        cur = self._db.execute("SELECT body FROM records ORDER BY jid DESC, seq DESC")
        for (body,) in cur:
            record = decode_record(body)
            if record.wall_ms < since_wall_ms:
                break
            rows.append(record)
        return reversed(rows)

    def newest_wall_ms(self, *, synced_only: bool = True) -> int | None:
        """The latest wall time of a record in this file (by default of one stamped by an
        NTP-synced clock): a floor for the clock after a reboot without network."""
        for (body,) in self._db.execute(
            "SELECT body FROM records ORDER BY jid DESC, seq DESC LIMIT 200"
        ):
            record = decode_record(body)
            if record.clock_synced or not synced_only:
                return record.wall_ms
        return None

    def hash_of(self, seq: int, *, journal: str | None = None) -> str | None:
        jid = self.jid if journal is None else self._jid_of(journal)
        return self._hash(jid, seq)

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def close(self) -> None:
        self._db.close()


Position = tuple[int, int]  # (jid, seq) of a record in the file


class JournalReader:
    """A read-only connection to the journal file for the station's local board (its own
    thread): it reads what the scan loop committed, and can neither write nor lock the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,  # used by one thread at a time (the board's lock)
            )
            self._db.execute("PRAGMA busy_timeout=2000")
        except sqlite3.Error as exc:
            raise _classify(path, exc) from exc

    def newest(self) -> Position:
        row = self._db.execute(
            "SELECT jid, seq FROM records ORDER BY jid DESC, seq DESC LIMIT 1"
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def event_records(self, event: str, after: Position, upto: Position) -> list[ScanRecord]:
        """The records for `event` (record.event) after `after`, up to `upto`, in file order."""
        needle = b'"event":' + msgspec.json.encode(event)  # as the canonical body holds it
        rows = self._db.execute(
            "SELECT body FROM records WHERE (jid > ? OR (jid = ? AND seq > ?)) "
            "AND (jid < ? OR (jid = ? AND seq <= ?)) AND instr(body, ?) > 0 ORDER BY jid, seq",
            (after[0], after[0], after[1], upto[0], upto[0], upto[1], needle),
        )
        return [r for r in (decode_record(body) for (body,) in rows) if r.event == event]

    def close(self) -> None:
        self._db.close()


def _readable(body: bytes) -> None:
    try:
        decode_record(body)
    except ProtocolError as exc:
        raise JournalError(f"refusing to store a record that cannot be read back: {exc}") from exc


def _classify(path: Path, exc: sqlite3.Error) -> JournalError:
    """Corruption (move the file aside) or a folder/permission problem (never move it)."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and any(s in text for s in _UNAVAILABLE):
        return JournalUnavailable(
            f"{path}: cannot open the journal for writing ({exc}). Fix: check that the folder "
            "exists and belongs to the station's user, and that the disk is not read-only"
        )
    return JournalCorrupt(f"{path}: {exc}")


def open_or_recover(
    path: str | Path, station: str, *, min_free_bytes: int = 64 << 20
) -> tuple[Journal, Path | None]:
    """Open the journal; if it is corrupt, move it aside (never delete) and start a new file,
    whose new journal starts at seq 1 under a new id (no seq of the old one is reused: they are
    different journals). The readable part of the old file can be exported from where it went
    (`presensi station export --journal-file`). Returns the journal and that place.

    A journal that cannot be opened for another reason (a read-only folder, a permission
    problem) raises JournalUnavailable and is never moved.
    """
    try:
        return Journal(path, station, min_free_bytes=min_free_bytes), None
    except JournalCorrupt as exc:
        log.error("journal corrupt, moving it aside: %s", exc)
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{path}{suffix}")
            if src.exists():
                src.rename(f"{aside}{suffix}")
    except OSError as exc:
        raise JournalUnavailable(
            f"{path} is corrupt and cannot be moved aside ({exc}). Fix: check the folder's "
            "permissions; copy the file off the card before replacing it"
        ) from exc
    return Journal(path, station, min_free_bytes=min_free_bytes), aside
