"""The hub's store: every scan record exactly once, each station's committed prefix, and the rest.

One thin layer over SQLite (the default: one file, no server) and PostgreSQL (the scale option:
several hub workers share one database). All the logic lives in `SqlStore`; an engine module
only opens a connection and speaks SQL (`Database`). Both engines run the same tests.

Exactly once: records are inserted idempotently on (station, seq), and a station's
`committed_upto` is the contiguous prefix 1..N that is stored (or that the station declared lost
with its batch `floor`). The hub acks only that prefix, so a station resends until it is stored.
Every `ingest()` call is one transaction that holds each of its stations' rows locked (SELECT
... FOR UPDATE in PostgreSQL, BEGIN IMMEDIATE in SQLite), so concurrent workers cannot advance
a prefix wrongly.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Unpack

from presensi.hub import migrations
from presensi.hub.errors import StoreError
from presensi.protocol.errors import ProtocolError
from presensi.protocol.record import ScanRecord, decode_record
from presensi.protocol.topics import STATION_ID, STATIONS
from presensi.protocol.wire import Batch

REJECT_PAYLOAD_MAX = 2048  # bytes of a rejected payload kept for a human to look at
PUBLIC_KEY_LEN = 32  # raw Ed25519

# reasons the store itself writes into the rejects table
CONFLICTING_DUPLICATE = "conflicting_duplicate"  # same (station, seq), different record: first kept
CHAIN_BREAK = "chain_break"  # a record's prev_hash is not the stored hash of the record before

_SEQ_HOLE_READ_THROUGH = 1000  # read a hole this small between two runs rather than query twice
_ADVANCE_CHUNK_MAX = 4096


# -- value types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationInfo:
    id: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    location: str


@dataclass(frozen=True)
class IngestResult:
    committed: dict[str, int]  # station -> contiguous committed seq, for every station in the call
    inserted: int
    duplicates: int
    conflicts: list[tuple[str, int]]  # (station, seq) that arrived again as a different record


@dataclass(frozen=True)
class RejectRow:
    id: int
    received_ms: int
    topic: str
    station: str | None
    seq: int | None
    reason: str
    detail: str | None
    payload: bytes  # at most REJECT_PAYLOAD_MAX bytes
    payload_len: int  # the length that arrived


@dataclass(frozen=True)
class StationRow:
    id: str
    location: str
    registered: bool  # has a public key
    online: bool
    last_seen_ms: int | None
    committed_upto: int
    backlog: int | None
    clock_synced: bool | None
    clock_offset_ms: int | None
    version: str | None
    boot_id: str | None
    last_scan_ms: int | None


class StationStatus(TypedDict, total=False):
    """What `update_station_status` may set; a None value leaves the column as it was."""

    online: bool
    last_seen_ms: int | None
    backlog: int | None
    clock_synced: bool | None
    clock_offset_ms: int | None
    version: str | None
    boot_id: str | None
    last_scan_ms: int | None
    telemetry_json: str | None


STATUS_FIELDS = StationStatus.__optional_keys__ | StationStatus.__required_keys__


# -- interfaces ----------------------------------------------------------------------------------


class Store(Protocol):
    def migrate(self) -> None: ...
    def schema_version(self) -> int: ...
    def register_station(self, info: StationInfo) -> None: ...
    def station_keys(self) -> dict[str, bytes]: ...
    def ingest(self, batches: Sequence[Batch], received_ms: int) -> IngestResult: ...
    def committed_upto(self, station: str) -> int: ...
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
    ) -> None: ...
    def rejects(self, limit: int = 100) -> list[RejectRow]: ...
    def gaps(self, station: str) -> list[tuple[int, int]]: ...
    def count_scans(self, station: str | None = None) -> int: ...
    def scans(self, station: str, first: int = 1, last: int | None = None) -> list[ScanRecord]: ...
    def update_station_status(self, station: str, **fields: Unpack[StationStatus]) -> None: ...
    def stations(self) -> list[StationRow]: ...
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
    "sqlite:///data/hub.db (relative to the working folder), sqlite:////var/lib/presensi/hub.db "
    "(absolute), a plain file path, or postgresql://user@host/db"
)


def open_store(url: str) -> Store:
    """Open the store at `url`; call `migrate()` before first use.

    "postgresql://..." (or "postgres://...") is a libpq connection URI. SQLite URLs follow the
    common (SQLAlchemy) convention: what follows "sqlite:///" is the file's path, so
    "sqlite:///data/hub.db" is data/hub.db under the working folder and
    "sqlite:////var/lib/presensi/hub.db" is the absolute /var/lib/presensi/hub.db; "sqlite://"
    alone (or "sqlite:///:memory:") is an in-memory database. Anything without a scheme is a
    path to an SQLite file.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from presensi.hub.store_postgres import PostgresDatabase

        return SqlStore(PostgresDatabase(url))
    from presensi.hub.store_sqlite import SqliteDatabase

    return SqlStore(SqliteDatabase(sqlite_path(url)))


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


@dataclass(frozen=True, slots=True)
class _Incoming:
    record: ScanRecord
    body: bytes
    hash: str


@dataclass(slots=True)
class _Arrivals:
    """What one ingest() call brought for one station."""

    floor: int = 0
    records: dict[int, _Incoming] = field(default_factory=dict)  # seq -> first arrival
    duplicates: int = 0
    conflicts: list[tuple[_Incoming, str]] = field(default_factory=list)  # (arrival, kept hash)


@dataclass(slots=True)
class _Mark:
    upto: int
    hash: str | None  # stored hash of record `upto`; None when it sits on a declared gap
    last_scan_ms: int | None
    last_seen_ms: int | None


@dataclass(slots=True)
class _Outcome:
    committed: int
    inserted: int
    duplicates: int
    conflicts: list[int]


_INSERT_SCAN = """
INSERT INTO scans (station, seq, scan_id, employee, serial, outcome, reason, direction, event,
                   wall_ms, location, clock_synced, prev_hash, hash, body, received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (station, seq) DO NOTHING
"""

_INSERT_REJECT = """
INSERT INTO rejects (received_ms, topic, station, seq, reason, detail, payload, payload_len)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

_STATION_COLUMNS = """
id, location, public_key IS NOT NULL, online, last_seen_ms, committed_upto, backlog,
clock_synced, clock_offset_ms, version, boot_id, last_scan_ms
"""


class SqlStore:
    """The Store over one Database connection. Thread-safe: calls are serialised."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()

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
        """Store the batches' records exactly once and advance each station's prefix.

        One transaction for the whole call. Returns the committed mark of every station in the
        call, how many records were new and how many were already stored, and the (station, seq)
        that arrived as a record different from the one stored (the first one is kept).
        """
        arrivals = _collect(batches)
        if not arrivals:
            return IngestResult({}, 0, 0, [])
        committed: dict[str, int] = {}
        inserted = duplicates = 0
        conflicts: list[tuple[str, int]] = []
        with self._lock, self._db.transaction():
            # a fixed order of stations: two workers never wait for each other in a cycle
            for station in sorted(arrivals):
                outcome = self._ingest_station(station, arrivals[station], received_ms)
                committed[station] = outcome.committed
                inserted += outcome.inserted
                duplicates += outcome.duplicates
                conflicts.extend((station, seq) for seq in outcome.conflicts)
        return IngestResult(committed, inserted, duplicates, conflicts)

    def _ingest_station(self, station: str, arrivals: _Arrivals, received_ms: int) -> _Outcome:
        mark = self._lock_station(station)
        stored = self._stored_hashes(station, sorted(arrivals.records))
        fresh: list[_Incoming] = []
        duplicates = arrivals.duplicates
        conflicts = list(arrivals.conflicts)
        for seq, incoming in arrivals.records.items():
            kept = stored.get(seq)
            if kept is None:
                fresh.append(incoming)
            elif kept == incoming.hash:
                duplicates += 1
            else:
                conflicts.append((incoming, kept))
        inserted = self._insert_scans(station, fresh, received_ms)
        duplicates += len(fresh) - inserted  # only if a row appeared despite the lock
        for incoming, kept in conflicts:
            self._write_reject(
                received_ms,
                _scans_topic(station),
                station,
                CONFLICTING_DUPLICATE,
                incoming.body,
                seq=incoming.record.seq,
                detail=f"hash {incoming.hash} differs from the stored {kept}; kept the stored",
            )
        upto, upto_hash = self._advance(station, mark, arrivals.floor, received_ms, len(fresh))
        last_scan = _latest(mark.last_scan_ms, *(r.record.wall_ms for r in fresh))
        self._db.execute(
            "UPDATE stations SET committed_upto = ?, committed_hash = ?, last_scan_ms = ?, "
            "last_seen_ms = ? WHERE id = ?",
            (upto, upto_hash, last_scan, max(mark.last_seen_ms or 0, received_ms), station),
        )
        return _Outcome(upto, inserted, duplicates, sorted(i.record.seq for i, _ in conflicts))

    def _lock_station(self, station: str) -> _Mark:
        self._db.execute(
            "INSERT INTO stations (id) VALUES (?) ON CONFLICT (id) DO NOTHING", (station,)
        )
        # for_update is a constant of the engine, never input
        lock = "SELECT committed_upto, committed_hash, last_scan_ms, last_seen_ms FROM stations "
        rows = self._db.execute(lock + "WHERE id = ?" + self._db.for_update, (station,))
        upto, upto_hash, last_scan_ms, last_seen_ms = rows[0]
        return _Mark(int(upto), upto_hash, last_scan_ms, last_seen_ms)

    def _stored_hashes(self, station: str, seqs: list[int]) -> dict[int, str]:
        """The stored hash of each of `seqs` that is stored: one range query per run of seqs."""
        stored: dict[int, str] = {}
        for first, last in _runs(seqs):
            rows = self._db.execute(
                "SELECT seq, hash FROM scans WHERE station = ? AND seq BETWEEN ? AND ?",
                (station, first, last),
            )
            stored.update((int(seq), h) for seq, h in rows)
        return stored

    def _insert_scans(self, station: str, fresh: list[_Incoming], received_ms: int) -> int:
        if not fresh:
            return 0
        rows = [
            (
                station,
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
                r.prev_hash,
                incoming.hash,
                incoming.body.decode(),
                received_ms,
            )
            for incoming in fresh
            for r in (incoming.record,)
        ]
        return self._db.executemany(_INSERT_SCAN, rows)

    def _advance(
        self, station: str, mark: _Mark, floor: int, received_ms: int, expected: int
    ) -> tuple[int, str | None]:
        """Move the mark over every stored next seq and over what the station declared lost.

        Reads the stored seqs above the mark in order, a chunk at a time, and stops at the
        first hole that the floor does not cover. Checks the hash chain on the way: a break is
        reported, never a reason to hold attendance back.
        """
        upto, upto_hash = mark.upto, mark.hash
        chunk = min(max(expected + 1, 16), _ADVANCE_CHUNK_MAX)
        while True:
            rows = self._db.execute(
                "SELECT seq, hash, prev_hash FROM scans WHERE station = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (station, upto, chunk),
            )
            for seq, row_hash, prev_hash in rows:
                if seq != upto + 1:
                    if upto >= floor:
                        return upto, upto_hash
                    upto = self._declare_lost(station, upto + 1, min(seq - 1, floor), received_ms)
                    upto_hash = None
                    if seq != upto + 1:
                        return upto, upto_hash
                if upto_hash is not None and prev_hash != upto_hash:
                    self._report_chain_break(station, seq, prev_hash, upto_hash, received_ms)
                upto, upto_hash = seq, row_hash
            if len(rows) < chunk:
                break
            chunk = min(chunk * 4, _ADVANCE_CHUNK_MAX)
        if upto < floor:
            upto = self._declare_lost(station, upto + 1, floor, received_ms)
            upto_hash = None
        return upto, upto_hash

    def _declare_lost(self, station: str, first: int, last: int, received_ms: int) -> int:
        self._db.execute(
            "INSERT INTO gaps (station, first_seq, last_seq, declared_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (station, first_seq) DO NOTHING",
            (station, first, last, received_ms),
        )
        return last

    def _report_chain_break(
        self, station: str, seq: int, prev_hash: str, expected: str, received_ms: int
    ) -> None:
        rows = self._db.execute(
            "SELECT body FROM scans WHERE station = ? AND seq = ?", (station, seq)
        )
        self._write_reject(
            received_ms,
            _scans_topic(station),
            station,
            CHAIN_BREAK,
            str(rows[0][0]).encode(),
            seq=seq,
            detail=f"station {station} seq {seq}: prev_hash {prev_hash} is not the stored "
            f"hash {expected} of seq {seq - 1}",
        )

    def committed_upto(self, station: str) -> int:
        with self._lock:
            rows = self._db.execute("SELECT committed_upto FROM stations WHERE id = ?", (station,))
        return int(rows[0][0]) if rows else 0

    def gaps(self, station: str) -> list[tuple[int, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT first_seq, last_seq FROM gaps WHERE station = ? ORDER BY first_seq",
                (station,),
            )
        return [(int(first), int(last)) for first, last in rows]

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
    ) -> None:
        """Keep a message the hub refused (payload cut to REJECT_PAYLOAD_MAX bytes)."""
        with self._lock, self._db.transaction():
            self._write_reject(received_ms, topic, station, reason, payload, seq=seq, detail=detail)

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
                len(payload),
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

    def scans(self, station: str, first: int = 1, last: int | None = None) -> list[ScanRecord]:
        """A station's stored records with first <= seq <= last, in seq order, as they arrived."""
        sql = "SELECT seq, body FROM scans WHERE station = ? AND seq >= ?"
        params: list[object] = [station, first]
        if last is not None:
            sql += " AND seq <= ?"
            params.append(last)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", params)
        records = []
        for seq, body in rows:
            try:
                records.append(decode_record(str(body).encode()))
            except ProtocolError as exc:
                raise StoreError(
                    f"stored record {station} seq {seq} does not decode: {exc}"
                ) from exc
        return records

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
        return [_station_row(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- small pure steps ----------------------------------------------------------------------------


def _collect(batches: Iterable[Batch]) -> dict[str, _Arrivals]:
    """Group the records by station, hash each once, and settle repeats within the call."""
    by_station: dict[str, _Arrivals] = {}
    for batch in batches:
        arrivals = by_station.setdefault(batch.station, _Arrivals())
        arrivals.floor = max(arrivals.floor, batch.floor)
        for record in batch.records:
            if record.station != batch.station:
                raise StoreError(
                    f"record {record.station!r} seq {record.seq} in a batch of {batch.station!r}"
                )
            body = record.canonical()
            incoming = _Incoming(record, body, hashlib.sha256(body).hexdigest())
            seen = arrivals.records.setdefault(record.seq, incoming)
            if seen is incoming:
                continue
            if seen.hash == incoming.hash:
                arrivals.duplicates += 1
            else:
                arrivals.conflicts.append((incoming, seen.hash))
    return by_station


def _runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted seqs as (first, last) ranges; small holes are read through."""
    runs: list[tuple[int, int]] = []
    for seq in seqs:
        if runs and seq - runs[-1][1] <= _SEQ_HOLE_READ_THROUGH:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _printable(text: str) -> str:
    """A reason may quote what arrived; PostgreSQL text cannot hold a NUL."""
    return text.replace("\x00", "\\x00")


def _scans_topic(station: str) -> str:
    return f"{STATIONS}/{station}/scans"


def _latest(*values: int | None) -> int | None:
    return max((v for v in values if v is not None), default=None)


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _station_row(row: tuple[Any, ...]) -> StationRow:
    return StationRow(
        id=row[0],
        location=row[1],
        registered=bool(row[2]),
        online=bool(row[3]),
        last_seen_ms=_optional_int(row[4]),
        committed_upto=int(row[5]),
        backlog=_optional_int(row[6]),
        clock_synced=_optional_bool(row[7]),
        clock_offset_ms=_optional_int(row[8]),
        version=row[9],
        boot_id=row[10],
        last_scan_ms=_optional_int(row[11]),
    )
