"""The hub's store: every scan record exactly once, each journal's committed prefix, and the rest.

One thin layer over SQLite (the default: one file, no server) and PostgreSQL (the scale option:
several hub workers share one database). All the logic lives in `SqlStore` (and, for the
journals, presensi.hub.journals); an engine module only opens a connection and speaks SQL
(`Database`). Both engines run the same tests.

Exactly once: records are inserted idempotently on (station, journal, branch, seq), and each
journal's `committed_upto` is the contiguous prefix 1..N that is stored. The hub acks only that
prefix, naming the journal and the stored hash, so a station resends until it is stored and
can tell its own records from another history of the same journal. Every `ingest()` call is one
transaction that holds each of its journals' rows locked (SELECT ... FOR UPDATE in PostgreSQL,
BEGIN IMMEDIATE in SQLite), in one fixed order, so concurrent workers cannot advance a prefix
wrongly or wait for each other in a cycle.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, Unpack

from presensi.hub import migrations, telemetry
from presensi.hub.attendance import days as attendance
from presensi.hub.branches import Arrival
from presensi.hub.errors import StoreError
from presensi.hub.journals import JournalLedger, correct_times
from presensi.hub.model import (
    ALERT_TWO_LIVE,
    CHAIN_BREAK,
    CONFLICTING_DUPLICATE,
    REJECT_PAYLOAD_MAX,
    STATUS_FIELDS,
    AlertRow,
    Committed,
    HubWorkerRow,
    IngestResult,
    JournalRow,
    RejectRow,
    StationInfo,
    StationRow,
    StationStatus,
    evidence_json,
    evidence_of,
)
from presensi.protocol.errors import ProtocolError
from presensi.protocol.record import ScanRecord, decode_record
from presensi.protocol.topics import STATION_ID
from presensi.protocol.wire import Batch, JournalState, Telemetry

__all__ = [
    "CHAIN_BREAK",
    "CONFLICTING_DUPLICATE",
    "REJECT_PAYLOAD_MAX",
    "AlertRow",
    "Committed",
    "IngestResult",
    "JournalRow",
    "RejectRow",
    "SqlStore",
    "StationInfo",
    "StationRow",
    "StationStatus",
    "Store",
    "open_store",
    "sqlite_path",
]

log = logging.getLogger(__name__)

PUBLIC_KEY_LEN = 32  # raw Ed25519
LIVE_WITHIN_MS = 24 * 3_600_000  # journals that received records this recently are "live"
# two live histories whose synced scan times overlap by more than this are two devices: one
# station's journals follow each other (a rotation starts the next after the last scan)
LIVE_OVERLAP_MS = 2_000


# -- interfaces ----------------------------------------------------------------------------------


class Store(Protocol):
    def migrate(self) -> None: ...
    def schema_version(self) -> int: ...
    def ping(self) -> None: ...
    def register_station(self, info: StationInfo) -> None: ...
    def station_keys(self) -> dict[str, bytes]: ...
    def ingest(self, batches: Sequence[Batch], received_ms: int) -> IngestResult: ...
    def committed_upto(self, station: str, journal: str | None = None) -> int: ...
    def reject(
        self,
        received_ms: int,
        topic: str,
        station: str | None,
        reason: str,
        payload: bytes,
        *,
        seq: int | None = None,
        detail: str | None = None,
        size: int | None = None,
    ) -> None: ...
    def rejects(self, limit: int = 100) -> list[RejectRow]: ...
    def purge_rejects(self, before_ms: int, keep: int) -> int: ...
    def journals(self, station: str | None = None) -> list[JournalRow]: ...
    def report_journals(
        self, station: str, journals: dict[str, JournalState], received_ms: int
    ) -> None: ...
    def alerts(
        self, *, open_only: bool = True, cleared_only: bool = False, limit: int = 100
    ) -> list[AlertRow]: ...
    def count_open_alerts(self) -> int: ...
    def clear_alert(self, alert_id: int, cleared_ms: int, by: str = "cli") -> bool: ...
    def count_scans(self, station: str | None = None) -> int: ...
    def scan_times(self, station: str) -> dict[str, tuple[int, int | None]]: ...
    def scans(
        self, station: str, first: int = 1, last: int | None = None, *, journal: str | None = None
    ) -> list[ScanRecord]: ...
    def update_station_status(self, station: str, **fields: Unpack[StationStatus]) -> None: ...
    def stations(self) -> list[StationRow]: ...
    def record_telemetry(self, station: str, received_ms: int, report: Telemetry) -> None: ...
    def derive_attendance(self, limit: int = 500, *, wait: bool = True) -> int: ...
    def purge_telemetry(self, before_ms: int) -> int: ...
    def set_hub_worker(
        self, client_id: str, connected: bool, since_ms: int, broker: str
    ) -> None: ...
    def hub_workers(self) -> list[HubWorkerRow]: ...
    def close(self) -> None: ...


class Database(Protocol):
    """One connection to one engine. SQL uses `?` placeholders; errors are StoreError."""

    @property
    def dialect(self) -> migrations.Dialect: ...
    @property
    def for_update(self) -> str: ...  # appended to a SELECT that must lock its rows
    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> int: ...
    def transaction(self) -> AbstractContextManager[None]: ...  # a writer transaction
    def close(self) -> None: ...


STORE_URL_HELP = (
    "sqlite:///data/hub.db (relative to the working folder), "
    "sqlite:////var/lib/presensi-hub/hub.db (absolute), a plain file path, or postgresql://user@host/db"
)


def open_store(url: str, *, existing: bool = False) -> Store:
    """Open the store at `url`; call `migrate()` before first use. With `existing` (for the
    commands that only read), a store that is not there, or not a hub's, is a StoreError and
    nothing is created.

    "postgresql://..." (or "postgres://...") is a libpq connection URI. SQLite URLs follow the
    common (SQLAlchemy) convention: what follows "sqlite:///" is the file's path, so
    "sqlite:///data/hub.db" is data/hub.db under the working folder and
    "sqlite:////var/lib/presensi-hub/hub.db" is the absolute /var/lib/presensi-hub/hub.db; "sqlite://"
    alone (or "sqlite:///:memory:") is an in-memory database. Anything without a scheme is a
    path to an SQLite file.
    """
    store: SqlStore
    if url.startswith(("postgresql://", "postgres://")):
        from presensi.hub.store_postgres import PostgresDatabase

        store = SqlStore(PostgresDatabase(url))
    else:
        from presensi.hub.store_sqlite import SqliteDatabase

        store = SqlStore(SqliteDatabase(sqlite_path(url), create=not existing))
    if existing:
        version = store.schema_version()
        if version == 0:
            store.close()
            raise StoreError(
                f"{url} holds no hub store (no schema). Fix: give the hub's --store; "
                "`presensi hub run` makes a new one"
            )
        if version < migrations.LATEST:
            store.migrate()  # an older hub's store: brought up to date, as the hub would
    return store


def sqlite_path(url: str) -> str:
    """The SQLite file a store URL names (see open_store); StoreError for anything else."""
    if url.startswith("sqlite://"):
        rest = url.removeprefix("sqlite://")
        if rest in ("", "/:memory:"):
            return ":memory:"
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"store URL {url!r} names no file: use {STORE_URL_HELP}")
        return rest[1:]  # "/data/hub.db" -> "data/hub.db"; "//abs/hub.db" -> "/abs/hub.db"
    if "://" in url:
        raise StoreError(f"unknown store URL {url!r}: use {STORE_URL_HELP}")
    if not url:
        raise StoreError(f"empty store URL: use {STORE_URL_HELP}")
    return url


# -- the shared logic ----------------------------------------------------------------------------

_INSERT_REJECT = """
INSERT INTO rejects (received_ms, topic, station, seq, reason, detail, payload, payload_len)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

_JOURNAL_COLUMNS = """
station, journal, fork, parent_fork, fork_seq, committed_upto, records, first_wall_ms,
last_wall_ms, first_received_ms, last_received_ms, reported_last_seq, reported_ms
"""

_STATION_COLUMNS = """
id, location, public_key IS NOT NULL, online, last_seen_ms, backlog,
clock_synced, clock_offset_ms, version, boot_id, last_scan_ms
"""


class SqlStore:
    """The Store over one Database connection. Thread-safe: calls are serialised."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._ledger = JournalLedger(db, self._raise_alert, self._ledger_reject)
        self._rules = attendance.RulesInForce()

    @property
    def dialect(self) -> migrations.Dialect:
        return self._db.dialect

    @property
    def database(self) -> Database:
        """The connection underneath, for admin tools (migrations); not for the hub's code."""
        return self._db

    # -- schema ----------------------------------------------------------------------------------

    def migrate(self) -> None:
        with self._lock:
            migrations.migrate(self._db)

    def schema_version(self) -> int:
        with self._lock:
            return migrations.current_version(self._db)

    def ping(self) -> None:
        """A round trip to the database (StoreError if it cannot be reached)."""
        with self._lock:
            self._db.execute("SELECT 1")

    # -- registry --------------------------------------------------------------------------------

    def register_station(self, info: StationInfo) -> None:
        if not STATION_ID.fullmatch(info.id):
            raise StoreError(f"not a valid station id: {info.id!r}")
        if len(info.public_key) != PUBLIC_KEY_LEN:
            raise StoreError(
                f"station {info.id!r}: public key must be {PUBLIC_KEY_LEN} raw bytes "
                f"(Ed25519), got {len(info.public_key)}"
            )
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO stations (id, location, public_key) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE "
                "SET location = excluded.location, public_key = excluded.public_key",
                (info.id, info.location, info.public_key),
            )

    def station_keys(self) -> dict[str, bytes]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, public_key FROM stations WHERE public_key IS NOT NULL"
            )
        return {station: bytes(key) for station, key in rows}

    # -- ingest ----------------------------------------------------------------------------------

    def ingest(self, batches: Sequence[Batch], received_ms: int) -> IngestResult:
        """Store the batches' records exactly once and advance each journal's prefix.

        One transaction for the whole call. Returns an ack per (station, journal) in the call,
        how many records were new and how many were already stored, the records that arrived
        edited, and how many new branches (a second history of a journal) began.
        """
        arrivals, repeats = _collect(batches)
        if not arrivals:
            return IngestResult([], 0, repeats)
        acks: list[tuple[int, Committed]] = []
        inserted = branches = 0
        duplicates = repeats
        conflicts: list[tuple[str, str, int]] = []
        moved: list[tuple[str, int]] = []  # scans whose time the hub corrected
        with self._lock, self._db.transaction():
            # one fixed order of (station, journal), each station's own row last: two workers
            # never wait for each other in a cycle
            for station in sorted({s for s, _ in arrivals}):
                last_scan: int | None = None
                boots: dict[str, bool] = {}
                for journal in sorted(j for s, j in arrivals if s == station):
                    out = self._ledger.ingest(
                        station, journal, arrivals[station, journal], received_ms
                    )
                    inserted += out.inserted
                    duplicates += out.duplicates
                    branches += out.new_branches
                    conflicts.extend((station, journal, seq) for seq in out.edited)
                    last_scan = _latest(last_scan, out.last_scan_ms)
                    for boot, unsynced in out.boots.items():
                        boots[boot] = boots.get(boot, False) or unsynced
                    if out.ack is not None:
                        acks.append((self._journal_started(station, journal), out.ack))
                moved += correct_times(self._db, station, boots)
                self._touch_station(station, received_ms, last_scan)
                self._check_live_journals(station, received_ms)
            # the work days these scans fall on are derived again (attendance/days.py)
            attendance.mark(self._db, (a.record for group in arrivals.values() for a in group))
            attendance.mark_punches(self._db, moved)
        acks.sort(key=lambda pair: pair[0])  # oldest journal first: the newest is retained last
        return IngestResult([a for _, a in acks], inserted, duplicates, conflicts, branches)

    def _journal_started(self, station: str, journal: str) -> int:
        rows = self._db.execute(
            "SELECT ordinal FROM journals WHERE station = ? AND journal = ? AND fork = 0",
            (station, journal),
        )
        return int(rows[0][0] or 0) if rows else 0

    def _touch_station(self, station: str, received_ms: int, last_scan: int | None) -> None:
        self._db.execute(
            "INSERT INTO stations (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (station,)
        )
        self._db.execute(
            "UPDATE stations SET last_seen_ms = ? WHERE id = ? "
            "AND (last_seen_ms IS NULL OR last_seen_ms < ?)",
            (received_ms, station, received_ms),
        )
        if last_scan is not None:
            self._db.execute(
                "UPDATE stations SET last_scan_ms = ? WHERE id = ? "
                "AND (last_scan_ms IS NULL OR last_scan_ms < ?)",
                (last_scan, station, last_scan),
            )

    def _check_live_journals(self, station: str, received_ms: int) -> None:
        """Two histories of one station whose scan times overlap, both delivering lately: one
        identity in two stations (a cloned card). Raised once per pair."""
        rows = self._db.execute(
            "SELECT journal, fork, first_wall_ms, last_wall_ms FROM journals WHERE station = ? "
            "AND first_wall_ms IS NOT NULL AND last_received_ms >= ? ORDER BY journal, fork",
            (station, received_ms - LIVE_WITHIN_MS),
        )
        for i, (j1, f1, first1, last1) in enumerate(rows):
            for j2, f2, first2, last2 in rows[i + 1 :]:
                overlap = min(last1, last2) - max(first1, first2)
                if overlap <= LIVE_OVERLAP_MS:
                    continue
                self._raise_alert(
                    received_ms,
                    station,
                    None,
                    ALERT_TWO_LIVE,
                    f"{j1}/{f1}+{j2}/{f2}",
                    f"station {station} is scanning into two histories at once ({j1} branch "
                    f"{f1} and {j2} branch {f2}, scans overlapping for {overlap // 1000} s): "
                    "its identity is in use by two devices (a cloned card). Both are kept.",
                    {
                        "station": station,
                        "histories": [
                            {"journal": j, "branch": int(f), "first_ms": int(a), "last_ms": int(b)}
                            for j, f, a, b in ((j1, f1, first1, last1), (j2, f2, first2, last2))
                        ],
                        # the scan times (synced clocks) the two have in common
                        "from_ms": int(max(first1, first2)),
                        "to_ms": int(min(last1, last2)),
                    },
                )

    # -- journals and alerts -------------------------------------------------------------------

    def committed_upto(self, station: str, journal: str | None = None) -> int:
        """A journal's committed prefix (branch 0); by default the station's newest journal."""
        with self._lock:
            if journal is None:
                rows = self._db.execute(
                    "SELECT committed_upto FROM journals WHERE station = ? AND fork = 0 "
                    "ORDER BY ordinal DESC LIMIT 1",
                    (station,),
                )
            else:
                rows = self._db.execute(
                    "SELECT committed_upto FROM journals WHERE station = ? AND journal = ? "
                    "AND fork = 0",
                    (station, journal),
                )
        return int(rows[0][0]) if rows else 0

    def journals(self, station: str | None = None) -> list[JournalRow]:
        """Every history the hub holds, by station, oldest journal first."""
        sql = f"SELECT {_JOURNAL_COLUMNS} FROM journals"  # noqa: S608 - a constant
        params: tuple[object, ...] = ()
        if station is not None:
            sql += " WHERE station = ?"
            params = (station,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY station, ordinal, fork", params)
        return [_journal_row(r) for r in rows]

    def report_journals(
        self, station: str, journals: dict[str, JournalState], received_ms: int
    ) -> None:
        """What a station's telemetry says it holds of each journal (its unsent tail)."""
        with self._lock, self._db.transaction():
            for journal, state in sorted(journals.items()):
                self._ledger.ensure(station, journal, received_ms)
                self._db.execute(
                    "UPDATE journals SET reported_last_seq = ?, reported_ms = ? "
                    "WHERE station = ? AND journal = ? AND fork = 0",
                    (state.last_seq, received_ms, station, journal),
                )

    def _raise_alert(
        self,
        raised_ms: int,
        station: str,
        journal: str | None,
        kind: str,
        subject: str,
        detail: str,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        """Raise an alert unless the same one (station, kind, subject) is already open. The
        detail is plain English; the evidence the same facts as data (JSON in its column), which
        the console words in its reader's language (presensi.hub.console.evidence)."""
        open_ = self._db.execute(
            "SELECT 1 FROM alerts WHERE station = ? AND kind = ? AND subject = ? "
            "AND cleared_ms IS NULL",
            (station, kind, subject),
        )
        if open_:
            return
        self._db.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail, evidence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                raised_ms,
                station,
                journal,
                kind,
                subject,
                _printable(detail),
                evidence_json(evidence),
            ),
        )
        log.warning("alert %s: %s", kind, detail)

    def alerts(
        self, *, open_only: bool = True, cleared_only: bool = False, limit: int = 100
    ) -> list[AlertRow]:
        """The newest alerts first; with `cleared_only`, the handled ones, last handled first."""
        sql = (
            "SELECT id, raised_ms, station, journal, kind, subject, detail, cleared_ms, "
            "cleared_by, evidence FROM alerts"
        )
        if cleared_only:
            sql += " WHERE cleared_ms IS NOT NULL ORDER BY cleared_ms DESC, id DESC"
        elif open_only:
            sql += " WHERE cleared_ms IS NULL ORDER BY id DESC"
        else:
            sql += " ORDER BY id DESC"
        with self._lock:
            rows = self._db.execute(sql + " LIMIT ?", (limit,))
        return [
            AlertRow(
                id=int(r[0]),
                raised_ms=int(r[1]),
                station=r[2],
                journal=r[3],
                kind=r[4],
                subject=r[5],
                detail=r[6],
                cleared_ms=_optional_int(r[7]),
                cleared_by=r[8],
                evidence=evidence_of(r[9]),
            )
            for r in rows
        ]

    def count_open_alerts(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM alerts WHERE cleared_ms IS NULL")[0][0]
            )

    def clear_alert(self, alert_id: int, cleared_ms: int, by: str = "cli") -> bool:
        """Mark an alert handled (by whom); False if there is no such open alert."""
        with self._lock, self._db.transaction():
            found = self._db.execute(
                "SELECT 1 FROM alerts WHERE id = ? AND cleared_ms IS NULL", (alert_id,)
            )
            if found:
                self._db.execute(
                    "UPDATE alerts SET cleared_ms = ?, cleared_by = ? WHERE id = ?",
                    (cleared_ms, by, alert_id),
                )
        return bool(found)

    def _ledger_reject(
        self,
        received_ms: int,
        topic: str,
        station: str,
        reason: str,
        payload: bytes,
        seq: int | None,
        detail: str,
    ) -> None:
        self._write_reject(received_ms, topic, station, reason, payload, seq=seq, detail=detail)

    # -- rejects ---------------------------------------------------------------------------------

    def reject(
        self,
        received_ms: int,
        topic: str,
        station: str | None,
        reason: str,
        payload: bytes,
        *,
        seq: int | None = None,
        detail: str | None = None,
        size: int | None = None,
    ) -> None:
        """Keep a message the hub refused (payload cut to REJECT_PAYLOAD_MAX bytes; `size`: its
        length as it arrived, when the payload given is already cut)."""
        with self._lock, self._db.transaction():
            self._write_reject(
                received_ms, topic, station, reason, payload, seq=seq, detail=detail, size=size
            )

    def purge_rejects(self, before_ms: int, keep: int) -> int:
        """Delete rejects received before `before_ms`, and all but the newest `keep`."""
        with self._lock, self._db.transaction():
            old = self._db.execute(
                "SELECT COUNT(*) FROM rejects WHERE received_ms < ?", (before_ms,)
            )
            self._db.execute("DELETE FROM rejects WHERE received_ms < ?", (before_ms,))
            over = self._db.execute(
                "SELECT id FROM rejects ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)
            )
            extra = 0
            if over:
                counted = self._db.execute(
                    "SELECT COUNT(*) FROM rejects WHERE id <= ?", (over[0][0],)
                )
                extra = int(counted[0][0])
                self._db.execute("DELETE FROM rejects WHERE id <= ?", (over[0][0],))
        return int(old[0][0]) + extra

    def _write_reject(
        self,
        received_ms: int,
        topic: str,
        station: str | None,
        reason: str,
        payload: bytes,
        *,
        seq: int | None,
        detail: str | None,
        size: int | None = None,
    ) -> None:
        self._db.execute(
            _INSERT_REJECT,
            (
                received_ms,
                topic,
                station,
                seq,
                _printable(reason),
                None if detail is None else _printable(detail),
                bytes(payload[:REJECT_PAYLOAD_MAX]),
                len(payload) if size is None else size,
            ),
        )

    def rejects(self, limit: int = 100) -> list[RejectRow]:
        """The newest rejects first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_ms, topic, station, seq, reason, detail, payload, "
                "payload_len FROM rejects ORDER BY id DESC LIMIT ?",
                (limit,),
            )
        return [
            RejectRow(
                id=int(row[0]),
                received_ms=int(row[1]),
                topic=row[2],
                station=row[3],
                seq=None if row[4] is None else int(row[4]),
                reason=row[5],
                detail=row[6],
                payload=bytes(row[7]),
                payload_len=int(row[8]),
            )
            for row in rows
        ]

    # -- scans -----------------------------------------------------------------------------------

    def count_scans(self, station: str | None = None) -> int:
        with self._lock:
            if station is None:
                rows = self._db.execute("SELECT COUNT(*) FROM scans")
            else:
                rows = self._db.execute("SELECT COUNT(*) FROM scans WHERE station = ?", (station,))
        return int(rows[0][0])

    def scans(
        self, station: str, first: int = 1, last: int | None = None, *, journal: str | None = None
    ) -> list[ScanRecord]:
        """A station's stored records with first <= seq <= last, as they arrived: one journal's
        (every branch, seq order) or, by default, every journal's, oldest journal first."""
        sql = (
            "SELECT s.seq, s.body FROM scans s JOIN journals j ON j.station = s.station "
            "AND j.journal = s.journal AND j.fork = 0 WHERE s.station = ? AND s.seq >= ?"
        )
        params: list[object] = [station, first]
        if last is not None:
            sql += " AND s.seq <= ?"
            params.append(last)
        if journal is not None:
            sql += " AND s.journal = ?"
            params.append(journal)
        order = " ORDER BY j.ordinal, s.fork, s.seq"
        with self._lock:
            rows = self._db.execute(sql + order, params)
        records = []
        for seq, body in rows:
            try:
                records.append(decode_record(str(body).encode()))
            except ProtocolError as exc:
                raise StoreError(
                    f"stored record {station} seq {seq} does not decode: {exc}"
                ) from exc
        return records

    def scan_times(self, station: str) -> dict[str, tuple[int, int | None]]:
        """scan id -> (wall_ms as recorded, corrected_wall_ms or None) of a station's scans."""
        with self._lock:
            rows = self._db.execute(
                "SELECT scan_id, wall_ms, corrected_wall_ms FROM scans WHERE station = ?",
                (station,),
            )
        return {r[0]: (int(r[1]), _optional_int(r[2])) for r in rows}

    # -- fleet status ----------------------------------------------------------------------------

    def update_station_status(self, station: str, **fields: Unpack[StationStatus]) -> None:
        """Set the given status columns of a station (its row is created if missing)."""
        unknown = set(fields) - STATUS_FIELDS
        if unknown:
            raise StoreError(f"unknown station status fields: {', '.join(sorted(unknown))}")
        values = {name: value for name, value in fields.items() if value is not None}
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO stations (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (station,)
            )
            if values:
                # column names come from StationStatus only (checked above), never from input
                assignments = ", ".join(f"{name} = ?" for name in values)
                self._db.execute(
                    f"UPDATE stations SET {assignments} WHERE id = ?",  # noqa: S608
                    (*values.values(), station),
                )

    def stations(self) -> list[StationRow]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_STATION_COLUMNS} FROM stations ORDER BY id")  # noqa: S608
            journals = self._db.execute(
                f"SELECT {_JOURNAL_COLUMNS} FROM journals ORDER BY station, ordinal, fork"  # noqa: S608
            )
            alerts = dict(
                self._db.execute(
                    "SELECT station, COUNT(*) FROM alerts WHERE cleared_ms IS NULL GROUP BY station"
                )
            )
        by_station: dict[str, list[JournalRow]] = {}
        for row in journals:
            j = _journal_row(row)
            by_station.setdefault(j.station, []).append(j)
        return [
            _station_row(row, by_station.get(row[0], []), int(alerts.get(row[0], 0)))
            for row in rows
        ]

    def derive_attendance(self, limit: int = 500, *, wait: bool = True) -> int:
        """Derive the work days of up to `limit` waiting marks (attendance/days.py); with
        `wait` False, none while another hub worker derives (0)."""
        with self._lock:
            return attendance.derive_pending(self._db, self._rules, limit=limit, wait=wait)

    def record_telemetry(self, station: str, received_ms: int, report: Telemetry) -> None:
        """Keep a station's report in its telemetry history (presensi.hub.telemetry)."""
        with self._lock:
            telemetry.record(self._db, station, received_ms, report)

    def purge_telemetry(self, before_ms: int) -> int:
        with self._lock:
            return telemetry.purge(self._db, before_ms)

    def set_hub_worker(self, client_id: str, connected: bool, since_ms: int, broker: str) -> None:
        """A hub worker's connection to the broker, as it changes."""
        with self._lock, self._db.transaction():
            self._db.execute(
                "INSERT INTO hub_workers (client_id, connected, since_ms, broker) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
                "connected = excluded.connected, since_ms = excluded.since_ms, "
                "broker = excluded.broker",
                (client_id, connected, since_ms, broker),
            )

    def hub_workers(self) -> list[HubWorkerRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id, connected, since_ms, broker FROM hub_workers ORDER BY client_id"
            )
        return [HubWorkerRow(r[0], bool(r[1]), int(r[2]), r[3]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- small pure steps ----------------------------------------------------------------------------


def _collect(batches: Iterable[Batch]) -> tuple[dict[tuple[str, str], list[Arrival]], int]:
    """Group the records by (station, journal), hash each once, and drop exact repeats within
    the call, counting them (different records at one seq all go on: the ledger tells them
    apart)."""
    by_journal: dict[tuple[str, str], dict[tuple[int, str], Arrival]] = {}
    repeats = 0
    for batch in batches:
        group = by_journal.setdefault((batch.station, batch.journal), {})
        for record in batch.records:
            if record.station != batch.station or record.journal != batch.journal:
                raise StoreError(
                    f"record {record.station!r} {record.journal} seq {record.seq} in a batch of "
                    f"{batch.station!r} {batch.journal}"
                )
            body = record.canonical()
            digest = hashlib.sha256(body).hexdigest()
            if (record.seq, digest) in group:
                repeats += 1
            else:
                group[record.seq, digest] = Arrival(record, body, digest)
    return {key: list(group.values()) for key, group in by_journal.items()}, repeats


def _printable(text: str) -> str:
    """A reason may quote what arrived; PostgreSQL text cannot hold a NUL."""
    return text.replace("\x00", "\\x00")


def _latest(*values: int | None) -> int | None:
    return max((v for v in values if v is not None), default=None)


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _journal_row(r: tuple[Any, ...]) -> JournalRow:
    return JournalRow(
        station=r[0],
        journal=r[1],
        fork=int(r[2]),
        parent=_optional_int(r[3]),
        fork_seq=int(r[4]),
        committed_upto=int(r[5]),
        records=int(r[6]),
        first_wall_ms=_optional_int(r[7]),
        last_wall_ms=_optional_int(r[8]),
        first_received_ms=_optional_int(r[9]),
        last_received_ms=_optional_int(r[10]),
        reported_last_seq=_optional_int(r[11]),
        reported_ms=_optional_int(r[12]),
    )


def _backlog(reported: int | None, journals: list[JournalRow]) -> int | None:
    """What the station last said it holds unacked, less what the hub committed since: the
    table does not show a backlog that was delivered after the station's last telemetry."""
    if reported is None:
        return None
    known = [j for j in journals if j.reported_last_seq is not None]
    if not known:
        return reported
    return min(reported, sum(j.unsent for j in known))


def _station_row(row: tuple[Any, ...], journals: list[JournalRow], alerts: int) -> StationRow:
    mains = [j for j in journals if j.fork == 0]
    newest = mains[-1] if mains else None
    return StationRow(
        id=row[0],
        location=row[1],
        registered=bool(row[2]),
        online=bool(row[3]),
        last_seen_ms=_optional_int(row[4]),
        committed_upto=newest.committed_upto if newest else 0,
        backlog=_backlog(_optional_int(row[5]), mains),
        clock_synced=_optional_bool(row[6]),
        clock_offset_ms=_optional_int(row[7]),
        version=row[8],
        boot_id=row[9],
        last_scan_ms=_optional_int(row[10]),
        journal=newest.journal if newest else None,
        journals=len(mains),
        unsent=sum(j.unsent for j in mains[:-1]),
        open_alerts=alerts,
    )
