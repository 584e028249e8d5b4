"""Schema migrations for the hub's store, one portable SQL text per version.

Each migration is written once; the few types the two engines spell differently are
placeholders filled per dialect ({blob}, {id}). `schema_migrations` records what was applied.
`migrate()` applies whatever is missing, in order, in one transaction, and holds a lock while
it does, so two hub workers starting together do not apply a version twice. Never edit a
migration that has shipped: add the next version.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from presensi.protocol.record import GENESIS

if TYPE_CHECKING:
    from presensi.hub.store import Database

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"blob": "BLOB", "id": "INTEGER PRIMARY KEY", "genesis": GENESIS},
    "postgres": {
        "blob": "BYTEA",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "genesis": GENESIS,
    },
}

# any constant shared by every hub worker: the key of PostgreSQL's advisory lock for migrating
_PG_LOCK_KEY = 0x70726573656E  # "presen"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    def sql(self, dialect: Dialect) -> list[str]:
        return [statement.format_map(_TYPES[dialect]) for statement in self.statements]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "stations, scans, gaps, rejects",
        (
            # committed_upto: every seq 1..committed_upto is stored or declared lost (gaps);
            # committed_hash: the stored hash of record committed_upto (GENESIS at 0, NULL when
            # the mark sits on a declared gap and the record there is unknown)
            """
            CREATE TABLE stations (
                id              TEXT PRIMARY KEY,
                location        TEXT NOT NULL DEFAULT '',
                public_key      {blob},
                committed_upto  BIGINT NOT NULL DEFAULT 0,
                committed_hash  TEXT DEFAULT '{genesis}',
                online          BOOLEAN NOT NULL DEFAULT FALSE,
                last_seen_ms    BIGINT,
                backlog         BIGINT,
                clock_synced    BOOLEAN,
                clock_offset_ms BIGINT,
                version         TEXT,
                boot_id         TEXT,
                telemetry_json  TEXT,
                last_scan_ms    BIGINT
            )
            """,
            """
            CREATE TABLE scans (
                station      TEXT NOT NULL,
                seq          BIGINT NOT NULL,
                scan_id      TEXT NOT NULL,
                employee     TEXT,
                serial       BIGINT,
                outcome      TEXT NOT NULL,
                reason       TEXT NOT NULL,
                direction    TEXT NOT NULL,
                event        TEXT,
                wall_ms      BIGINT NOT NULL,
                location     TEXT NOT NULL,
                clock_synced BOOLEAN NOT NULL,
                prev_hash    TEXT NOT NULL,
                hash         TEXT NOT NULL,
                body         TEXT NOT NULL,
                received_ms  BIGINT NOT NULL,
                PRIMARY KEY (station, seq)
            )
            """,
            """
            CREATE TABLE gaps (
                station     TEXT NOT NULL,
                first_seq   BIGINT NOT NULL,
                last_seq    BIGINT NOT NULL,
                declared_ms BIGINT NOT NULL,
                PRIMARY KEY (station, first_seq)
            )
            """,
            """
            CREATE TABLE rejects (
                id          {id},
                received_ms BIGINT NOT NULL,
                topic       TEXT NOT NULL,
                station     TEXT,
                seq         BIGINT,
                reason      TEXT NOT NULL,
                detail      TEXT,
                payload     {blob} NOT NULL,
                payload_len BIGINT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        2,
        "indexes for attendance by employee and by time",
        (
            "CREATE INDEX scans_employee_wall ON scans (employee, wall_ms)",
            "CREATE INDEX scans_wall ON scans (wall_ms)",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
)
"""


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply the migrations not yet applied, in version order; return the versions applied."""
    applied_now: list[int] = []
    with db.transaction():
        if db.dialect == "postgres":
            db.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK_KEY,))
        db.execute(_CREATE_TABLE)
        done = {int(row[0]) for row in db.execute("SELECT version FROM schema_migrations")}
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            for statement in migration.sql(db.dialect):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time_ns() // 1_000_000),
            )
            applied_now.append(migration.version)
    return applied_now


def current_version(db: Database) -> int:
    """The highest applied version; 0 for a database never migrated."""
    exists = (
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        if db.dialect == "sqlite"
        else "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL"
    )
    if not db.execute(exists):
        return 0
    return int(db.execute("SELECT MAX(version) FROM schema_migrations")[0][0] or 0)
