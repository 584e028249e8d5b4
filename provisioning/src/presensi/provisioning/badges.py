"""The registry of issued badges (org/badges.db) and the revocation list the stations get.

Every badge ever signed has a row: serial, employee number, key id, validity, when it was issued
and, once revoked, when and why (and the serial that replaced it). Serials come from a counter in
the same database, taken inside the write transaction: they increase monotonically, are unique
within the organisation and are never reused: a failed run rolls the counter back together with
its rows, and nothing signed in it is kept (the command line renders the PDF to a temporary file
inside the transaction and deletes it on failure); a row deleted by hand does not free its serial.

After every revocation the list is rewritten, with a version one higher:

    org/revocations.json          {"version": N, "serials": [...]}
    org/revocations.signed.json   the same as a signed fleet document (kind "revocations"),
                                  signed with the org's badge key: what `presensi hub
                                  publish-fleet --revocations` sends to every station

Both are written by Org.publish_revocations (signed with org.signing_key() through
presensi.protocol.fleet.revocations_document), each atomically (temporary file, fsync, rename),
after the database commit: a crash leaves the old or the new file, never half of one. The version
counter lives in the database and is kept above the file's version, so a crash between the
commit and the files only means the next list skips a version number, never that a station
is sent a list that is not newer than the one it has (it would ignore it).

Dropping serials: a revoked badge whose validity ended more than REVOCATION_GRACE_DAYS ago is left
out of the list. A station rejects such a badge anyway (`expired`: expiry is checked on its own,
whatever the list says), so keeping it only makes the list longer for ever. The grace period is
there for stations whose clock runs behind (a Pi without a real-time clock that boots offline
starts at the last time it saved): for them an expired badge still looks valid, and its serial
must still be on the list. The registry keeps every row; only the published list is shortened.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from presensi.protocol import badge as badge_token
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.provisioning.errors import ProvisioningError
from presensi.provisioning.org import Org

DB_FILE = "badges.db"
REVOCATIONS_FILE = "revocations.json"
SIGNED_REVOCATIONS_FILE = "revocations.signed.json"
DEFAULT_VALID_DAYS = 365
REVOCATION_GRACE_DAYS = 90
DEFAULT_TIMEZONE = "Asia/Jakarta"
MAX_SERIAL = 2**32 - 1  # the token's serial field is 32 bits
REISSUED = "reissued"  # revoke_reason of a badge replaced by `reissue`

Existing = Literal["error", "skip", "renew"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS badges (
    serial        INTEGER PRIMARY KEY,
    employee      TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    valid_from    INTEGER NOT NULL,
    valid_until   INTEGER NOT NULL,
    issued_ms     INTEGER NOT NULL,
    revoked_ms    INTEGER,
    revoke_reason TEXT,
    replaced_by   INTEGER REFERENCES badges (serial),
    issue_reason  TEXT    NOT NULL DEFAULT 'new'
);
CREATE INDEX IF NOT EXISTS badges_employee ON badges (employee);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('next_serial', 1);
INSERT OR IGNORE INTO counters (name, value) VALUES ('revocations_version', 0);
"""
_COLUMNS = (
    "serial, employee, key_id, valid_from, valid_until, issued_ms, revoked_ms, revoke_reason,"
    " replaced_by, issue_reason"
)


class BadgeError(ProvisioningError):
    """A refused badge operation (unknown serial, already revoked, an employee who already
    holds a valid badge, ...). Nothing was changed."""


class EmployeeLike(Protocol):
    """What a badge needs of an employee (a row of org/employees.csv)."""

    @property
    def number(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def unit(self) -> str: ...


@dataclass(frozen=True)
class IssuedBadge:
    """A badge just signed: the registry row's fields, the employee's name and unit (for the
    card), and the token text (what the QR code holds)."""

    serial: int
    employee: str
    name: str
    unit: str
    key_id: str
    valid_from: int
    valid_until: int
    issued_ms: int
    token: str


@dataclass(frozen=True)
class BadgeRecord:
    """One row of the registry."""

    serial: int
    employee: str
    key_id: str
    valid_from: int
    valid_until: int
    issued_ms: int
    revoked_ms: int | None
    revoke_reason: str | None
    replaced_by: int | None
    issue_reason: str

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None

    def current(self, now_s: int) -> bool:
        """Not revoked and not yet expired at `now_s`."""
        return self.revoked_ms is None and now_s < self.valid_until


@dataclass(frozen=True)
class RevocationList:
    """A revocation list as written: its content and the two files."""

    revocations: Revocations
    path: Path
    signed_path: Path


@dataclass(frozen=True)
class Revoked:
    """The result of `revoke`: the serials just revoked and the new list."""

    serials: list[int]
    employee: str
    list: RevocationList


@dataclass(frozen=True)
class Reissued:
    """The result of `reissue`: the new badge, the serials it replaced, the new list (None when
    the employee held no unrevoked badge, so nothing had to be revoked)."""

    badge: IssuedBadge
    replaced: list[int]
    list: RevocationList | None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def start_of_day(now_s: int, timezone: str = DEFAULT_TIMEZONE) -> int:
    """00:00 local time of the day containing `now_s`: badges are valid from the start of the
    day they are issued (a station whose clock is a few minutes behind accepts them at once)."""
    zone = zoneinfo.ZoneInfo(timezone)
    day = dt.datetime.fromtimestamp(now_s, zone).date()
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp())


def validity(
    now_s: int, valid_days: int, timezone: str = DEFAULT_TIMEZONE, valid_from: int | None = None
) -> tuple[int, int]:
    """(valid_from, valid_until) for a badge issued at `now_s`: from the start of the local day
    (or `valid_from`), until the start of the local day `valid_days` later (exclusive)."""
    if valid_days < 1:
        raise BadgeError(f"--valid-days must be at least 1, not {valid_days}")
    start = start_of_day(now_s, timezone) if valid_from is None else valid_from
    # aware-datetime arithmetic is wall-clock arithmetic: the same local time, valid_days later
    local_start = dt.datetime.fromtimestamp(start, zoneinfo.ZoneInfo(timezone))
    end = int((local_start + dt.timedelta(days=valid_days)).timestamp())
    if end >= 2**32:
        raise BadgeError(f"a validity of {valid_days} days ends after the year 2106")
    return start, end


class Registry:
    """org/badges.db. Use as a context manager; write methods run in one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE takes the write
        # lock at once, so two admins issuing at the same time are serialised, not interleaved)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode = DELETE")  # one file: easy to back up
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(_SCHEMA)

    @classmethod
    def of(cls, org: Org) -> Registry:
        return cls(org.badges_db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def rows(self, where: str = "", args: Sequence[object] = ()) -> list[BadgeRecord]:
        sql = f"SELECT {_COLUMNS} FROM badges {where} ORDER BY serial"  # noqa: S608 (constants)
        return [BadgeRecord(*row) for row in self.db.execute(sql, args)]

    def get(self, serial: int) -> BadgeRecord | None:
        rows = self.rows("WHERE serial = ?", (serial,))
        return rows[0] if rows else None

    def of_employee(self, employee: str) -> list[BadgeRecord]:
        return self.rows("WHERE employee = ?", (employee,))

    def all(self) -> list[BadgeRecord]:
        return self.rows()

    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def bump(self, name: str, by: int = 1) -> int:
        """Add `by` to a counter (inside a transaction); returns its value before."""
        before = self.counter(name)
        self.db.execute("UPDATE counters SET value = ? WHERE name = ?", (before + by, name))
        return before

    def listed_serials(self, now_s: int) -> list[int]:
        """The revoked serials the published list carries at `now_s` (see the module doc)."""
        horizon = now_s - REVOCATION_GRACE_DAYS * 86_400
        rows = self.db.execute(
            "SELECT serial FROM badges WHERE revoked_ms IS NOT NULL AND valid_until > ?"
            " ORDER BY serial",
            (horizon,),
        )
        return [int(r[0]) for r in rows]


def _sign_batch(
    registry: Registry,
    key: SigningKey,
    employees: Sequence[EmployeeLike],
    start: int,
    end: int,
    issued_ms: int,
    issue_reason: str,
) -> list[IssuedBadge]:
    """Allocate serials and sign (inside the caller's transaction)."""
    first = registry.bump("next_serial", len(employees))
    if first + len(employees) - 1 > MAX_SERIAL:
        raise BadgeError("the organisation has used up the 32-bit badge serials")
    key_id = key.key_id.hex()
    out: list[IssuedBadge] = []
    for serial, emp in enumerate(employees, first):
        try:
            token = badge_token.issue(key, emp.number, serial, start, end)
        except ProtocolError as exc:
            raise BadgeError(f"employee {emp.number!r}: {exc}") from exc
        out.append(
            IssuedBadge(
                serial, emp.number, emp.name, emp.unit, key_id, start, end, issued_ms,
                token.to_text(),
            )
        )  # fmt: skip
    registry.db.executemany(
        "INSERT INTO badges (serial, employee, key_id, valid_from, valid_until, issued_ms,"
        " issue_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(b.serial, b.employee, key_id, start, end, issued_ms, issue_reason) for b in out],
    )
    return out


def issue(
    org: Org,
    employees: Iterable[EmployeeLike],
    *,
    valid_days: int = DEFAULT_VALID_DAYS,
    valid_from: int | None = None,
    existing: Existing = "error",
    timezone: str | None = None,
    now_ms: int | None = None,
    before_commit: Callable[[list[IssuedBadge]], None] | None = None,
) -> list[IssuedBadge]:
    """Sign one badge per employee and record them, in one transaction.

    `existing` says what to do with an employee who already holds a current badge (unrevoked,
    unexpired): "error" refuses the whole run (running `issue` twice by mistake would otherwise
    double everyone's valid badges), "skip" leaves them out, "renew" issues a new badge anyway
    (the old one stays valid until it expires; `reissue` revokes it instead).
    `before_commit(badges)` runs inside the transaction (the serials are still locked): the
    command line writes the PDF there, so a failed PDF leaves no registered-but-unprinted badge.
    """
    now_ms = _now_ms() if now_ms is None else now_ms
    now_s = now_ms // 1000
    start, end = validity(now_s, valid_days, timezone or org.timezone, valid_from)
    wanted = list(employees)
    seen: set[str] = set()
    duplicates: list[str] = []
    for emp in wanted:
        if emp.number in seen:
            duplicates.append(emp.number)
        seen.add(emp.number)
    if duplicates:
        raise BadgeError(f"employee numbers listed twice: {', '.join(duplicates[:10])}")
    key = org.signing_key()
    with Registry.of(org) as registry, registry.transaction():
        holders = {
            r.employee
            for r in registry.rows("WHERE revoked_ms IS NULL AND valid_until > ?", (now_s,))
        }
        holding = [e.number for e in wanted if e.number in holders]
        if holding and existing == "error":
            shown = ", ".join(holding[:10]) + (", ..." if len(holding) > 10 else "")
            raise BadgeError(
                f"{len(holding)} employee(s) already hold a valid badge ({shown}). "
                "Use `presensi badge reissue` to replace one (the old badge is revoked), "
                "--existing skip to leave them out, or --existing renew to issue new badges "
                "while the old ones stay valid until they expire."
            )
        if existing == "skip":
            wanted = [e for e in wanted if e.number not in holders]
        if not wanted:
            return []
        issued = _sign_batch(registry, key, wanted, start, end, now_ms, "new")
        if before_commit is not None:
            before_commit(issued)
    return issued


def reissue(
    org: Org,
    employee: EmployeeLike,
    reason: str = "replacement",
    *,
    valid_days: int = DEFAULT_VALID_DAYS,
    timezone: str | None = None,
    now_ms: int | None = None,
    before_commit: Callable[[list[IssuedBadge]], None] | None = None,
) -> Reissued:
    """A new badge (new serial) for an employee whose card was lost, damaged or changed: every
    unrevoked badge of theirs is revoked with reason "reissued" and points to the new serial;
    `reason` is recorded as the new badge's issue reason. The revocation list is rewritten."""
    now_ms = _now_ms() if now_ms is None else now_ms
    now_s = now_ms // 1000
    start, end = validity(now_s, valid_days, timezone or org.timezone)
    key = org.signing_key()
    with Registry.of(org) as registry:
        with registry.transaction() as db:
            old = [r.serial for r in registry.of_employee(employee.number) if not r.revoked]
            (new,) = _sign_batch(registry, key, [employee], start, end, now_ms, reason)
            db.executemany(
                "UPDATE badges SET revoked_ms = ?, revoke_reason = ?, replaced_by = ?"
                " WHERE serial = ?",
                [(now_ms, REISSUED, new.serial, s) for s in old],
            )
            version = _next_version(org, registry) if old else 0
            if before_commit is not None:
                before_commit([new])
        listed = _write_list(org, registry, version, now_s) if old else None
    return Reissued(new, old, listed)


def revoke(
    org: Org, target: int | str, reason: str = "revoked", *, now_ms: int | None = None
) -> Revoked:
    """Revoke a badge by serial (an int) or every unrevoked badge of an employee (their number,
    a str), and rewrite the revocation list."""
    now_ms = _now_ms() if now_ms is None else now_ms
    reason = reason.strip() or "revoked"
    org.signing_key()  # fails early (a missing private key) before anything is changed
    with Registry.of(org) as registry:
        with registry.transaction() as db:
            if isinstance(target, int):
                record = registry.get(target)
                if record is None:
                    raise BadgeError(f"no badge with serial {target} was issued")
                if record.revoked:
                    when = format_ms(record.revoked_ms)
                    raise BadgeError(
                        f"badge {target} ({record.employee}) was already revoked on {when}"
                        f" ({record.revoke_reason})"
                    )
                serials, employee = [target], record.employee
            else:
                records = registry.of_employee(target)
                if not records:
                    raise BadgeError(f"no badge was issued to employee {target!r}")
                serials = [r.serial for r in records if not r.revoked]
                if not serials:
                    raise BadgeError(f"every badge of employee {target!r} is already revoked")
                employee = target
            db.executemany(
                "UPDATE badges SET revoked_ms = ?, revoke_reason = ? WHERE serial = ?",
                [(now_ms, reason, s) for s in serials],
            )
            version = _next_version(org, registry)
        listed = _write_list(org, registry, version, now_ms // 1000)
    return Revoked(serials, employee, listed)


def rewrite_revocations(org: Org, *, now_ms: int | None = None) -> RevocationList:
    """Write the list again with the next version: after a key rotation (signed with the new
    key), or to drop long-expired serials."""
    now_ms = _now_ms() if now_ms is None else now_ms
    with Registry.of(org) as registry:
        with registry.transaction():
            version = _next_version(org, registry)
        return _write_list(org, registry, version, now_ms // 1000)


def _next_version(org: Org, registry: Registry) -> int:
    """The next list version (inside a transaction): above both the database's counter and the
    file's version (a list restored from a backup, say), so stations always take the new list."""
    version = max(registry.counter("revocations_version"), org.revocations().version) + 1
    registry.db.execute(
        "UPDATE counters SET value = ? WHERE name = 'revocations_version'", (version,)
    )
    return version


def _write_list(org: Org, registry: Registry, version: int, now_s: int) -> RevocationList:
    revocations = Revocations(version, frozenset(registry.listed_serials(now_s)))
    org.publish_revocations(revocations)  # both files, each atomically, signed by the org key
    return RevocationList(revocations, org.revocations_path, org.revocations_signed_path)


def load_revocations(path: Path, keys: KeyRing | None = None) -> Revocations:
    """Read a revocation list: revocations.json, or a signed one (then checked against `keys`,
    which must be given)."""
    from presensi.protocol.fleet import open_document

    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise BadgeError(f"{path}: not a readable revocation list ({exc})") from exc
    if isinstance(data, dict) and "sig" in data:
        if keys is None:
            raise BadgeError(f"{path} is signed: give the keys to check it with")
        try:
            return Revocations.from_json(open_document(raw, keys, "revocations"))
        except ProtocolError as exc:
            raise BadgeError(f"{path}: {exc}") from exc
    try:
        return Revocations.from_json(data)
    except ProtocolError as exc:
        raise BadgeError(f"{path}: {exc}") from exc


def format_ms(ms: int | None, timezone: str = DEFAULT_TIMEZONE) -> str:
    if ms is None:
        return "-"
    when = dt.datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(timezone))
    return when.strftime("%Y-%m-%d %H:%M %Z")


__all__ = [
    "DEFAULT_VALID_DAYS",
    "REISSUED",
    "BadgeError",
    "BadgeRecord",
    "IssuedBadge",
    "Registry",
    "Reissued",
    "RevocationList",
    "Revoked",
    "issue",
    "load_revocations",
    "reissue",
    "revoke",
    "rewrite_revocations",
]
