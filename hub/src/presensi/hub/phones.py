"""Phone badges at the hub: one-time enrollment codes and the phones' certificates.

An admin gives an employee a code (`issue_code`: printed or shown once, only its SHA-256 is
stored, expiring); the phone page sends the code and its new P-256 public key; `enroll` checks
the code, uses it up, revokes the employee's previous phone and signs a certificate with the
hub's phone issuing key (an org badge key kept by the hub: docs/phone-badge.md). Stations learn
a revoked phone's serial from the signed revocation list (`merged_revocations`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec

from presensi.hub import people
from presensi.hub.attendance.marks import mark_revoked
from presensi.hub.errors import HubError
from presensi.protocol import phone
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import Revocations, SigningKey

if TYPE_CHECKING:
    from presensi.hub.store import Database

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
CODE_LENGTH = 12  # 31^12: about 59 bits
CODE_TTL_MS = 24 * 3600 * 1000
PHONE_SERIAL_BASE = 2**31  # cards count up from 1; phones from here, so the two never meet
VALID_DAYS = 365
# the certificate starts a little before enrollment: a station's clock a few minutes behind the
# hub's must not see a brand-new phone as not yet valid
BACKDATE_S = 600
# the revocation list's version: the org's list version in the high part, the count of revoked
# phones in the low part, so a newer org list or a newly revoked phone both make a newer list
PHONE_VERSION_BITS = 24
_CODE_TEXT = re.compile(r"[A-Z0-9 -]{1,40}")
_SEC1_UNCOMPRESSED = 65
_PG_ENROLL_LOCK = 0x70686F6E65  # "phone": serialises enrollments across hub processes

PhoneState = Literal["aktif", "diganti", "dicabut", "kedaluwarsa"]


class EnrollmentError(HubError):
    """An enrollment refused; `code` is stable (for the page and the tests), the message says
    what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Phone:
    serial: int
    employee: str
    certificate: bytes
    valid_from_s: int
    valid_until_s: int
    enrolled_ms: int
    revoked_ms: int | None = None
    revoke_reason: str | None = None

    def state(self, now_s: int) -> PhoneState:
        if self.revoked_ms is not None:  # replaced by a new phone, or revoked (lost, left)
            return "diganti" if (self.revoke_reason or "").startswith("replaced") else "dicabut"
        return "kedaluwarsa" if now_s >= self.valid_until_s else "aktif"


@dataclass(frozen=True)
class Enrolled:
    cert: phone.DeviceCertificate
    revoked: tuple[int, ...]  # the serials of the employee's phones this enrollment replaced


def normalise_code(text: str) -> str:
    """A code as typed (lower case, spaces or dashes between groups) in its stored form."""
    if not _CODE_TEXT.fullmatch(text.upper()):
        raise EnrollmentError(
            "bad_code", "the enrollment code has 12 letters and digits: check it and try again"
        )
    code = text.upper().replace(" ", "").replace("-", "")
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise EnrollmentError(
            "bad_code", "the enrollment code has 12 letters and digits: check it and try again"
        )
    return code


def grouped(code: str) -> str:
    """ABCD-EFGH-JKMN: how a code is shown and printed."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _hash(code: str) -> str:
    return hashlib.sha256(b"presensi/phone-enroll/v1\x00" + code.encode()).hexdigest()


def issue_code(
    db: Database, employee: str, *, by: str, now_ms: int, ttl_ms: int = CODE_TTL_MS
) -> str:
    """A new one-time code for `employee` (returned once, grouped); any unused earlier code of
    theirs stops working."""
    who = people.person(db, employee)
    if who is None or not who.active:
        raise EnrollmentError(
            "unknown_employee",
            f"no active employee {employee!r} in the hub: sync the employees first "
            "(presensi provision register)",
        )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    with db.transaction():
        db.execute(
            "UPDATE phone_codes SET used_ms = ? WHERE employee = ? AND used_ms IS NULL",
            (now_ms, employee),
        )
        db.execute(
            "INSERT INTO phone_codes (code_hash, employee, created_by, created_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (_hash(code), employee, by, now_ms, now_ms + ttl_ms),
        )
    return grouped(code)


def device_point(public_key_b64: str) -> bytes:
    """The 33-byte compressed point of the key the page sent: WebCrypto's 'raw' export (65
    bytes, uncompressed), in Base64."""
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnrollmentError("bad_key", "the phone's key is not Base64: reload the page") from exc
    if len(raw) != _SEC1_UNCOMPRESSED or raw[0] != 4:
        raise EnrollmentError("bad_key", "the phone's key is not a P-256 public key")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise EnrollmentError("bad_key", "the phone's key is not a P-256 public key") from exc
    return phone.compress(public)


def enroll(
    db: Database,
    key: SigningKey,
    code_text: str,
    point: bytes,
    *,
    now_ms: int,
    valid_days: int = VALID_DAYS,
) -> Enrolled:
    """Use up `code_text` and certify the phone key `point` for its employee, revoking their
    previous phone; one transaction: a refused enrollment changes nothing."""
    code = normalise_code(code_text)
    now_s = now_ms // 1000
    with db.transaction():
        if db.dialect == "postgres":  # two console processes must not pick the same serial
            db.execute("SELECT pg_advisory_xact_lock(?)", (_PG_ENROLL_LOCK,))
        # for_update is a constant of the engine, never input
        rows = db.execute(
            "SELECT employee, expires_ms, used_ms FROM phone_codes "  # noqa: S608
            "WHERE code_hash = ?" + db.for_update,
            (_hash(code),),
        )
        if not rows:
            raise EnrollmentError(
                "unknown_code", "this enrollment code is not known: ask the admin for a new one"
            )
        employee, expires_ms, used_ms = str(rows[0][0]), int(rows[0][1]), rows[0][2]
        if used_ms is not None:
            raise EnrollmentError(
                "used_code", "this enrollment code was already used: ask the admin for a new one"
            )
        if now_ms >= expires_ms:
            raise EnrollmentError(
                "expired_code", "this enrollment code has expired: ask the admin for a new one"
            )
        who = people.person(db, employee)
        if who is None or not who.active:  # left since the code was made
            raise EnrollmentError(
                "inactive_employee", f"{employee} is no longer an active employee of the hub"
            )
        top = db.execute("SELECT MAX(serial) FROM phones")[0][0]
        serial = max(int(top) + 1 if top is not None else 0, PHONE_SERIAL_BASE)
        try:
            cert = phone.certify(
                key, employee, serial, point, now_s - BACKDATE_S, now_s + valid_days * 86_400
            )
        except ProtocolError as exc:
            raise EnrollmentError("bad_key", f"cannot certify this phone: {exc}") from exc
        previous = [
            int(r[0])
            for r in db.execute(
                "SELECT serial FROM phones WHERE employee = ? AND revoked_ms IS NULL", (employee,)
            )
        ]
        db.executemany(
            "UPDATE phones SET revoked_ms = ?, revoke_reason = ? WHERE serial = ?",
            [(now_ms, f"replaced by {serial}", s) for s in previous],
        )
        # the days of scans the old phone made after now stop counting (a station that has
        # not heard yet still accepts it): derived again
        mark_revoked(db, previous)
        db.execute("UPDATE phone_codes SET used_ms = ? WHERE code_hash = ?", (now_ms, _hash(code)))
        db.execute(
            "INSERT INTO phones (serial, employee, certificate, valid_from_s, valid_until_s, "
            "enrolled_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (serial, employee, cert.to_bytes(), cert.valid_from, cert.valid_until, now_ms),
        )
    return Enrolled(cert, tuple(previous))


_COLUMNS = (
    "serial, employee, certificate, valid_from_s, valid_until_s, enrolled_ms, revoked_ms, "
    "revoke_reason"
)


def _phone(r: Sequence[Any]) -> Phone:
    return Phone(
        int(r[0]),
        str(r[1]),
        bytes(r[2]),
        int(r[3]),
        int(r[4]),
        int(r[5]),
        None if r[6] is None else int(r[6]),
        None if r[7] is None else str(r[7]),
    )


def phones_of(db: Database, employee: str) -> list[Phone]:
    """An employee's phones, newest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM phones WHERE employee = ? ORDER BY serial DESC",  # noqa: S608
        (employee,),
    )
    return [_phone(r) for r in rows]


def phone_by_serial(db: Database, serial: int) -> Phone | None:
    rows = db.execute(f"SELECT {_COLUMNS} FROM phones WHERE serial = ?", (serial,))  # noqa: S608
    return _phone(rows[0]) if rows else None


def revoke(
    db: Database,
    *,
    reason: str,
    now_ms: int,
    serial: int | None = None,
    employee: str | None = None,
) -> list[int]:
    """Revoke a phone by its serial, or every active phone of an employee (lost, stolen, left);
    returns the serials revoked (none: nothing to do, nothing changed). The running hub
    publishes them to the stations with its next revocation list; the days of scans made
    with them after now are derived again (they stop counting)."""
    if (serial is None) == (employee is None):
        raise HubError("name a phone's serial or an employee, not both")
    if not reason.strip():
        raise HubError("say why the phone is revoked (--reason)")
    with db.transaction():
        rows = (
            db.execute(
                "SELECT serial FROM phones WHERE serial = ? AND revoked_ms IS NULL", (serial,)
            )
            if serial is not None
            else db.execute(
                "SELECT serial FROM phones WHERE employee = ? AND revoked_ms IS NULL", (employee,)
            )
        )
        serials = [int(r[0]) for r in rows]
        db.executemany(
            "UPDATE phones SET revoked_ms = ?, revoke_reason = ? WHERE serial = ?",
            [(now_ms, reason.strip()[:200], s) for s in serials],
        )
        mark_revoked(db, serials)
    return serials


def revoked_serials(db: Database) -> list[int]:
    return [
        int(r[0])
        for r in db.execute("SELECT serial FROM phones WHERE revoked_ms IS NOT NULL ORDER BY 1")
    ]


def merged_revocations(org: Revocations, phones: Iterable[int]) -> Revocations:
    """The org's revocation list plus the hub's revoked phones, under a version above both:
    org version in the high bits, the number of revoked phones in the low ones."""
    revoked_phones = frozenset(phones)
    if len(revoked_phones) >= 2**PHONE_VERSION_BITS:
        raise HubError("too many revoked phones for one revocation list version")
    version = (org.version << PHONE_VERSION_BITS) + len(revoked_phones)
    return Revocations(version, org.serials | revoked_phones)
