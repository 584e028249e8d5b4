"""Badge token v1: the bytes printed as a QR code on an employee's card.

Layout (big-endian), then signed with Ed25519:

    offset size field
    0      1    version (1)
    1      4    key id (first 4 bytes of SHA-256 of the org public key)
    5      4    badge serial (unsigned; unique within the organisation)
    9      4    valid from (Unix seconds, UTC)
    13     4    valid until (Unix seconds, UTC, exclusive)
    17     1    length L of the employee number (1..32)
    18     L    employee number (ASCII letters, digits, '-', '_', '.')
    18+L   64   Ed25519 signature over DOMAIN + bytes 0..18+L

Text form: "PRS1:" followed by the bytes in RFC 4648 Base32 without padding. Every character is
in the QR alphanumeric set, so a typical token (90 bytes, 149 characters) fits QR version 6-7.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KEY_ID_BYTES, KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason

PREFIX = "PRS1:"
VERSION = 1
DOMAIN = b"presensi/badge/v1\x00"
SIGNATURE_BYTES = 64
MAX_EMPLOYEE = 32
_HEADER = struct.Struct(">B4sIIIB")
_EMPLOYEE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_MAX_TEXT = len(PREFIX) + (_HEADER.size + MAX_EMPLOYEE + SIGNATURE_BYTES) * 8 // 5 + 1
assert KEY_ID_BYTES == 4


@dataclass(frozen=True)
class BadgeToken:
    key_id: bytes
    serial: int
    valid_from: int
    valid_until: int
    employee: str
    signature: bytes = b""

    def signed_part(self) -> bytes:
        emp = self.employee.encode("ascii")
        head = _HEADER.pack(
            VERSION, self.key_id, self.serial, self.valid_from, self.valid_until, len(emp)
        )
        return head + emp

    def to_bytes(self) -> bytes:
        return self.signed_part() + self.signature

    def to_text(self) -> str:
        return PREFIX + base64.b32encode(self.to_bytes()).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    token: BadgeToken | None = None

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


def check_holder(employee: str, serial: int, valid_from: int, valid_until: int) -> None:
    """ProtocolError unless these fit a badge (or a phone's certificate): the employee number's
    rule, 32-bit serial and validity, a validity that is not empty."""
    if not _EMPLOYEE.fullmatch(employee):
        raise ProtocolError(
            f"employee number {employee!r} must be 1-32 letters, digits, '-', '_' or '.'"
        )
    for name, value in (
        ("serial", serial),
        ("valid_from", valid_from),
        ("valid_until", valid_until),
    ):
        if not 0 <= value < 2**32:
            raise ProtocolError(f"{name} {value} does not fit in 32 bits")
    if valid_until <= valid_from:
        raise ProtocolError("valid_until must be after valid_from")


def issue(
    key: SigningKey, employee: str, serial: int, valid_from: int, valid_until: int
) -> BadgeToken:
    """Create and sign a badge token."""
    check_holder(employee, serial, valid_from, valid_until)
    unsigned = BadgeToken(key.key_id, serial, valid_from, valid_until, employee)
    return BadgeToken(
        key.key_id,
        serial,
        valid_from,
        valid_until,
        employee,
        key.sign(DOMAIN + unsigned.signed_part()),
    )


def parse(text: str) -> BadgeToken:
    """Decode a token's text form; raises ProtocolError if it is not a well-formed v1 token."""
    if not text.startswith(PREFIX):
        raise ProtocolError("not a badge")
    body = text[len(PREFIX) :]
    if len(text) > _MAX_TEXT or not body.isascii():
        raise ProtocolError("malformed: wrong length or characters")
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"malformed: not Base32 ({exc})") from exc
    if len(raw) < _HEADER.size + 1 + SIGNATURE_BYTES:
        raise ProtocolError("malformed: truncated")
    version, key_id, serial, valid_from, valid_until, emp_len = _HEADER.unpack_from(raw)
    if version != VERSION:
        raise ProtocolError(f"malformed: unknown version {version}")
    if len(raw) != _HEADER.size + emp_len + SIGNATURE_BYTES:
        raise ProtocolError("malformed: length does not match the employee field")
    emp_bytes = raw[_HEADER.size : _HEADER.size + emp_len]
    employee = emp_bytes.decode("ascii", errors="replace")
    if not _EMPLOYEE.fullmatch(employee):
        raise ProtocolError("malformed: employee number has forbidden characters")
    token = BadgeToken(key_id, serial, valid_from, valid_until, employee, raw[-SIGNATURE_BYTES:])
    if token.to_text() != text:
        raise ProtocolError("malformed: not in canonical form")
    return token


def verify(
    text: str,
    keys: KeyRing,
    revoked: Revocations,
    now: int,
    *,
    check_not_before: bool = True,
) -> Verdict:
    """Verify a scanned text at Unix time `now`. Never raises: every failure is a reason code.

    `check_not_before` is off when the station's clock is not synced (a Pi without an RTC may
    boot with an old time); such scans carry the clock state so the hub can re-check them.
    """
    if not text.startswith(PREFIX):
        return Verdict(Reason.NOT_A_BADGE)
    try:
        token = parse(text)
    except ProtocolError:
        return Verdict(Reason.MALFORMED)
    public = keys.get(token.key_id)
    if public is None:
        return Verdict(Reason.UNKNOWN_KEY, token)
    try:
        public.verify(token.signature, DOMAIN + token.signed_part())
    except InvalidSignature:
        return Verdict(Reason.BAD_SIGNATURE, token)
    if token.serial in revoked:
        return Verdict(Reason.REVOKED, token)
    if check_not_before and now < token.valid_from:
        return Verdict(Reason.NOT_YET_VALID, token)
    if now >= token.valid_until:
        return Verdict(Reason.EXPIRED, token)
    return Verdict(Reason.OK, token)
