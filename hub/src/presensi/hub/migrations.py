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

from presensi.protocol.record import GENESIS, LEGACY_JOURNAL

if TYPE_CHECKING:
    from presensi.hub.store import Database

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "blob": "BLOB",
        "id": "INTEGER PRIMARY KEY",
        "genesis": GENESIS,
        "legacy": LEGACY_JOURNAL,
    },
    "postgres": {
        "blob": "BYTEA",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "genesis": GENESIS,
        "legacy": LEGACY_JOURNAL,
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

MIGRATIONS += (
    Migration(
        3,
        "journals: a station's records keyed by (station, journal, branch, seq); alerts",
        (
            # one row per history of a journal: branch (fork) 0 is the history seen first,
            # 1, 2 ... histories kept beside it from fork_seq on (a restored or cloned card);
            # ordinal: 1 for a station's first journal, 2 for the next it began ...
            """
            CREATE TABLE journals (
                station           TEXT NOT NULL,
                journal           TEXT NOT NULL,
                fork              INTEGER NOT NULL,
                parent_fork       INTEGER,
                fork_seq          BIGINT NOT NULL DEFAULT 1,
                ordinal           BIGINT NOT NULL DEFAULT 1,
                committed_upto    BIGINT NOT NULL DEFAULT 0,
                committed_hash    TEXT,
                records           BIGINT NOT NULL DEFAULT 0,
                first_wall_ms     BIGINT,
                last_wall_ms      BIGINT,
                first_received_ms BIGINT,
                last_received_ms  BIGINT,
                reported_last_seq BIGINT,
                reported_ms       BIGINT,
                PRIMARY KEY (station, journal, fork)
            )
            """,
            """
            CREATE TABLE scans_3 (
                station      TEXT NOT NULL,
                journal      TEXT NOT NULL,
                fork         INTEGER NOT NULL,
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
                boot_id      TEXT,
                mono_ns      BIGINT,
                corrected_wall_ms BIGINT,
                prev_hash    TEXT NOT NULL,
                hash         TEXT NOT NULL,
                body         TEXT NOT NULL,
                received_ms  BIGINT NOT NULL,
                PRIMARY KEY (station, journal, fork, seq)
            )
            """,
            # what schema 1 and 2 held is every station's one legacy journal, branch 0
            """
            INSERT INTO scans_3 (station, journal, fork, seq, scan_id, employee, serial, outcome,
                                 reason, direction, event, wall_ms, location, clock_synced,
                                 prev_hash, hash, body, received_ms)
            SELECT station, '{legacy}', 0, seq, scan_id, employee, serial, outcome, reason,
                   direction, event, wall_ms, location, clock_synced, prev_hash, hash, body,
                   received_ms
            FROM scans
            """,
            """
            INSERT INTO journals (station, journal, fork, fork_seq, committed_upto,
                                  committed_hash, records, first_wall_ms, last_wall_ms,
                                  first_received_ms, last_received_ms)
            SELECT s.id, '{legacy}', 0, 1, s.committed_upto, s.committed_hash,
                   (SELECT COUNT(*) FROM scans c WHERE c.station = s.id),
                   (SELECT MIN(wall_ms) FROM scans c WHERE c.station = s.id),
                   (SELECT MAX(wall_ms) FROM scans c WHERE c.station = s.id),
                   (SELECT MIN(received_ms) FROM scans c WHERE c.station = s.id),
                   (SELECT MAX(received_ms) FROM scans c WHERE c.station = s.id)
            FROM stations s
            WHERE s.committed_upto > 0 OR EXISTS (SELECT 1 FROM scans c WHERE c.station = s.id)
            """,
            "DROP TABLE scans",
            "ALTER TABLE scans_3 RENAME TO scans",
            "CREATE INDEX scans_employee_wall ON scans (employee, wall_ms)",
            "CREATE INDEX scans_wall ON scans (wall_ms)",
            "CREATE INDEX scans_scan_id ON scans (scan_id)",
            # corrected_wall_ms: for a scan stamped by an unsynced or stepped clock, its time
            # from the monotonic clock and the offset of a synced scan of the same boot
            "CREATE INDEX scans_boot ON scans (station, boot_id, mono_ns)",
            # what an operator must look at: one open alert per (station, kind, subject)
            """
            CREATE TABLE alerts (
                id         {id},
                raised_ms  BIGINT NOT NULL,
                station    TEXT NOT NULL,
                journal    TEXT,
                kind       TEXT NOT NULL,
                subject    TEXT NOT NULL,
                detail     TEXT NOT NULL,
                cleared_ms BIGINT
            )
            """,
            "CREATE INDEX alerts_open ON alerts (station, kind, subject, cleared_ms)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        4,
        "hub workers and their broker connection",
        (
            # each hub worker says whether it is connected to the broker: while it is not,
            # the stations' states in the fleet table are as they were last seen
            """
            CREATE TABLE hub_workers (
                client_id  TEXT PRIMARY KEY,
                connected  BOOLEAN NOT NULL,
                since_ms   BIGINT NOT NULL,
                broker     TEXT NOT NULL
            )
            """,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        5,
        "console users, API tokens, audit trail, who cleared an alert, employees, scans by arrival",
        (
            # the console's people: a role (admin, operator, viewer), an argon2 hash, and an
            # epoch that ends every session of the user when it changes (a new password)
            """
            CREATE TABLE console_users (
                name          TEXT PRIMARY KEY,
                role          TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                units         TEXT NOT NULL DEFAULT '',
                session_epoch BIGINT NOT NULL DEFAULT 0,
                created_ms    BIGINT NOT NULL,
                disabled      BOOLEAN NOT NULL DEFAULT FALSE
            )
            """,
            # who did what in the console (and at the CLI's user commands), never updated
            """
            CREATE TABLE audit (
                id       {id},
                at_ms    BIGINT NOT NULL,
                actor    TEXT NOT NULL,
                action   TEXT NOT NULL,
                subject  TEXT NOT NULL DEFAULT '',
                detail   TEXT NOT NULL DEFAULT '',
                address  TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX audit_at ON audit (at_ms)",
            # who acknowledged an alert in the console ("cli" for `presensi hub alerts clear`)
            "ALTER TABLE alerts ADD COLUMN cleared_by TEXT",
            # the organisation's people, as `presensi provision register` syncs them from the
            # org folder: names and units for the pages; someone no longer listed stays, inactive
            """
            CREATE TABLE employees (
                number      TEXT PRIMARY KEY,
                name        TEXT NOT NULL,
                unit        TEXT NOT NULL DEFAULT '',
                shift_group TEXT NOT NULL DEFAULT '',
                active      BOOLEAN NOT NULL DEFAULT TRUE,
                updated_ms  BIGINT NOT NULL
            )
            """,
            "CREATE INDEX employees_unit ON employees (unit)",
            # tokens of the JSON API: only a SHA-256 of each (a token is shown once, at issue)
            """
            CREATE TABLE api_tokens (
                name         TEXT PRIMARY KEY,
                role         TEXT NOT NULL,
                units        TEXT NOT NULL DEFAULT '',
                token_sha256 TEXT NOT NULL UNIQUE,
                created_ms   BIGINT NOT NULL,
                revoked_ms   BIGINT
            )
            """,
            "CREATE INDEX scans_location_wall ON scans (location, wall_ms)",
            # the live page follows commits by their arrival time
            "CREATE INDEX scans_received ON scans (received_ms)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        6,
        "scans by arrival, in full key order",
        (
            # the live feed pages through arrivals by (received_ms, key): one index serves it
            "CREATE INDEX scans_arrival ON scans (received_ms, station, journal, fork, seq)",
            "DROP INDEX scans_received",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        7,
        "attendance points",
        (
            # the org's attendance points, as `presensi provision locations sync` gives them
            """
            CREATE TABLE locations (
                id         TEXT PRIMARY KEY,
                name       TEXT NOT NULL,
                kind       TEXT NOT NULL,
                latitude   DOUBLE PRECISION NOT NULL,
                longitude  DOUBLE PRECISION NOT NULL,
                timezone   TEXT NOT NULL,
                updated_ms BIGINT NOT NULL
            )
            """,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        8,
        "telemetry history, badges, refused scans",
        (
            # a station's telemetry over time, one row per station per five minutes (the last
            # report of the bucket, with the highest backlog seen in it); kept for a week
            """
            CREATE TABLE telemetry_samples (
                station           TEXT NOT NULL,
                bucket_ms         BIGINT NOT NULL,
                received_ms       BIGINT NOT NULL,
                backlog           BIGINT NOT NULL,
                backlog_max       BIGINT NOT NULL,
                oldest_unacked_ms BIGINT,
                disk_free_mb      BIGINT,
                clock_synced      BOOLEAN NOT NULL,
                clock_offset_ms   BIGINT,
                decode_fps        DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (station, bucket_ms)
            )
            """,
            "CREATE INDEX telemetry_samples_bucket ON telemetry_samples (bucket_ms)",
            # the org's badge registry as `presensi provision employees sync` gives it: what the
            # console shows of each employee's badges (the org folder stays the source of truth)
            """
            CREATE TABLE badges (
                serial        BIGINT PRIMARY KEY,
                employee      TEXT NOT NULL,
                valid_from_s  BIGINT NOT NULL,
                valid_until_s BIGINT NOT NULL,
                issued_ms     BIGINT NOT NULL,
                revoked_ms    BIGINT,
                revoke_reason TEXT,
                replaced_by   BIGINT,
                updated_ms    BIGINT NOT NULL
            )
            """,
            "CREATE INDEX badges_employee ON badges (employee)",
            # the alerts page lists badges refused at stations, newest first: a few among millions
            "CREATE INDEX scans_refused ON scans (received_ms) WHERE outcome = 'rejected'",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        9,
        "attendance",
        (
            # the rules files loaded (presensi hub attendance rules load): the newest applies
            """
            CREATE TABLE attendance_rules (
                version   {id},
                text      TEXT NOT NULL,
                loaded_ms BIGINT NOT NULL,
                loaded_by TEXT NOT NULL
            )
            """,
            # (employee, UTC day) whose work days must be derived again: written by ingest in
            # its own transaction, taken by the derivation (presensi.hub.attendance.days)
            """
            CREATE TABLE attendance_dirty (
                employee TEXT NOT NULL,
                utc_day  INTEGER NOT NULL,
                mark     BIGINT NOT NULL DEFAULT 1,  -- raised by each new mark: see days.py
                PRIMARY KEY (employee, utc_day)
            )
            """,
            # one row per employee per work day with a punch; an absence has no row
            """
            CREATE TABLE attendance_days (
                employee      TEXT NOT NULL,
                work_date     TEXT NOT NULL,
                shift         TEXT NOT NULL,
                start_ms      BIGINT NOT NULL,
                end_ms        BIGINT NOT NULL,
                window_end_ms BIGINT NOT NULL,
                first_in_ms   BIGINT,
                last_out_ms   BIGINT,
                late_min      INTEGER NOT NULL,
                early_min     INTEGER NOT NULL,
                codes         TEXT NOT NULL,
                deduction     DOUBLE PRECISION NOT NULL,
                locations     TEXT NOT NULL,
                rules_version BIGINT NOT NULL,
                computed_ms   BIGINT NOT NULL,
                PRIMARY KEY (employee, work_date)
            )
            """,
            "CREATE INDEX attendance_days_date ON attendance_days (work_date)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        10,
        "attendance corrections",
        (
            # a manual status or a missing time for one employee's work day, with why and who;
            # it applies once decided 'approved' (by a second person where the rules ask)
            """
            CREATE TABLE attendance_corrections (
                id           {id},
                employee     TEXT NOT NULL,
                work_date    TEXT NOT NULL,
                code         TEXT,
                check_in_ms  BIGINT,
                check_out_ms BIGINT,
                reason       TEXT NOT NULL,
                attachment   TEXT NOT NULL DEFAULT '',
                requested_by TEXT NOT NULL,
                requested_ms BIGINT NOT NULL,
                decision     TEXT,
                decided_by   TEXT,
                decided_ms   BIGINT
            )
            """,
            "CREATE INDEX attendance_corrections_day "
            "ON attendance_corrections (work_date, employee)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        11,
        "scans by badge serial",
        (
            # a badge revoked while a station was offline: its later scans are found by serial
            "CREATE INDEX scans_serial ON scans (serial)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        12,
        "attendance rosters, imported holidays, flagged days",
        (
            # a rotating crew's shift per day (presensi.hub.attendance.schedule); 'libur': off
            """
            CREATE TABLE attendance_roster (
                employee    TEXT NOT NULL,
                work_date   TEXT NOT NULL,
                shift       TEXT NOT NULL,
                location    TEXT,
                imported_ms BIGINT NOT NULL,
                imported_by TEXT NOT NULL,
                PRIMARY KEY (employee, work_date)
            )
            """,
            "CREATE INDEX attendance_roster_date ON attendance_roster (work_date)",
            # public holidays imported from a CSV file, beside the rules file's own
            """
            CREATE TABLE attendance_holidays (
                day         TEXT PRIMARY KEY,
                name        TEXT NOT NULL,
                imported_ms BIGINT NOT NULL,
                imported_by TEXT NOT NULL
            )
            """,
            # what a day's punches showed beside its codes ("elsewhere": not where assigned)
            "ALTER TABLE attendance_days ADD COLUMN flags TEXT NOT NULL DEFAULT ''",
            # the cheating signals raise each alert once per subject, ever
            "CREATE INDEX alerts_subject ON alerts (kind, subject)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        13,
        "events: apel, upacara, meetings",
        (
            # presensi.hub.events: when, where, who is expected; statuses come from the scans
            """
            CREATE TABLE events (
                id           TEXT PRIMARY KEY,
                name         TEXT NOT NULL,
                kind         TEXT NOT NULL,
                starts_ms    BIGINT NOT NULL,
                late_ms      BIGINT NOT NULL,
                ends_ms      BIGINT NOT NULL,
                venue        TEXT NOT NULL,
                location     TEXT,
                timezone     TEXT NOT NULL,
                walk_ins     BOOLEAN NOT NULL,
                series       TEXT,
                cancelled_ms BIGINT,
                created_ms   BIGINT NOT NULL,
                created_by   TEXT NOT NULL
            )
            """,
            "CREATE INDEX events_starts ON events (starts_ms)",
            """
            CREATE TABLE event_stations (
                event   TEXT NOT NULL,
                station TEXT NOT NULL,
                PRIMARY KEY (event, station)
            )
            """,
            "CREATE INDEX event_stations_station ON event_stations (station)",
            # whole units (kind 'unit') or people by number (kind 'employee')
            """
            CREATE TABLE event_expected (
                event TEXT NOT NULL,
                kind  TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (event, kind, value)
            )
            """,
            # izin: excused from one event, with why and who
            """
            CREATE TABLE event_excused (
                event      TEXT NOT NULL,
                employee   TEXT NOT NULL,
                reason     TEXT NOT NULL,
                excused_by TEXT NOT NULL,
                excused_ms BIGINT NOT NULL,
                PRIMARY KEY (event, employee)
            )
            """,
            "CREATE INDEX scans_event ON scans (event, wall_ms)",
            "CREATE INDEX scans_station_wall ON scans (station, wall_ms)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        14,
        "attendance marks carry the span of their punches",
        (
            # presensi.hub.attendance.marks: NULL (every mark before this) is a whole day
            "ALTER TABLE attendance_dirty ADD COLUMN lo_ms BIGINT",
            "ALTER TABLE attendance_dirty ADD COLUMN hi_ms BIGINT",
            # the derivation reads a span of an employee's scans by the hub's corrected time
            # too (a station's clock off by hours: presensi.hub.attendance.days._count)
            "CREATE INDEX scans_employee_corrected ON scans (employee, corrected_wall_ms) "
            "WHERE corrected_wall_ms IS NOT NULL",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        15,
        "the console's newest scans of a place or station, and the revoked badges, from indexes",
        (
            # presensi.hub.console.data.recent_scans: "the newest N at this place" read in
            # order, not sorted from every scan there (24,000 a location at 1M scans: 130 ms)
            "CREATE INDEX scans_location_received ON scans (location, received_ms)",
            "CREATE INDEX scans_station_received ON scans (station, received_ms)",
            # the revoked badges among all (the alerts page's "accepted after revocation")
            "CREATE INDEX badges_revoked ON badges (serial) WHERE revoked_ms IS NOT NULL",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        16,
        "phone badges: enrollment codes and enrolled phones",
        (
            # presensi.hub.phones: a one-time code an admin gives an employee (only its
            # SHA-256 is kept), used once, before it expires
            """
            CREATE TABLE phone_codes (
                code_hash  TEXT PRIMARY KEY,
                employee   TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_ms BIGINT NOT NULL,
                expires_ms BIGINT NOT NULL,
                used_ms    BIGINT
            )
            """,
            "CREATE INDEX phone_codes_employee ON phone_codes (employee)",
            # a phone's certificate (serials from 2^31 up: cards count up from 1); revoked
            # when the employee enrols another phone
            """
            CREATE TABLE phones (
                serial        BIGINT PRIMARY KEY,
                employee      TEXT NOT NULL,
                certificate   {blob} NOT NULL,
                valid_from_s  BIGINT NOT NULL,
                valid_until_s BIGINT NOT NULL,
                enrolled_ms   BIGINT NOT NULL,
                revoked_ms    BIGINT,
                revoke_reason TEXT
            )
            """,
            "CREATE INDEX phones_employee ON phones (employee, serial)",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        17,
        "alerts keep their evidence as data",
        (
            # the evidence of an alert (the cheating signals: who, which scans, where, when in
            # Unix ms; the journals' alerts: station, journal, seq, hashes) as JSON, which the
            # console words in the reader's language and zone; `detail` keeps a plain English
            # text. NULL for the alerts raised before (their detail is all there is)
            "ALTER TABLE alerts ADD COLUMN evidence TEXT",
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
