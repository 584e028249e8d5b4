"""Phone badge v1: a rotating QR shown by an enrolled phone, verified offline like a card.

An org badge key certifies a device key the phone's browser holds (non-extractable, ECDSA P-256:
the one curve WebCrypto signs with in every browser). Every STEP_S seconds the phone signs the
time step with that key and shows certificate + step + signature. A screenshot stops verifying
when its step leaves the station's tolerance. See docs/protocol.md ("Phone badge v1") and
docs/phone-badge.md (threat model).

Certificate (big-endian), signed with Ed25519 by an org badge key:

    offset size field
    0      1    version (1)
    1      4    key id of the org key
    5      4    badge serial (the phone's own: allocated like a reissued card's)
    9      4    valid from (Unix seconds, UTC)
    13     4    valid until (Unix seconds, UTC, exclusive)
    17     33   device public key, P-256, SEC1 compressed point
    50     1    length L of the employee number (1..32)
    51     L    employee number
    51+L   64   Ed25519 signature over CERT_DOMAIN + bytes 0..51+L

Certificate id: the first 8 bytes of SHA-256 over the whole certificate (signature included).

Phone code = certificate, then:

    4    time step (Unix seconds // STEP_S)
    64   ECDSA P-256 / SHA-256 signature, r || s (as WebCrypto gives it), over
         CODE_DOMAIN + time step (4 bytes) + certificate id (8 bytes)

Text form: "PRP1:" + RFC 4648 Base32 without padding (QR alphanumeric mode), like "PRS1:" badges.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from presensi.protocol import badge
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason

PREFIX = "PRP1:"
VERSION = 1
CERT_DOMAIN = b"presensi/phone-cert/v1\x00"
CODE_DOMAIN = b"presensi/phone-code/v1\x00"
STEP_S = 15
# tolerance around the station's time step: one step either side when its clock is synced
SYNCED_TOLERANCE_STEPS = 1
# an unsynced station (a Pi without RTC booted offline) lags rather than leads: its past bound
# stays one step (a lagging clock only makes codes look newer), its future bound widens to this
UNSYNCED_AHEAD_STEPS = 3600 // STEP_S
CERT_ID_BYTES = 8
POINT_BYTES = 33
ORG_SIGNATURE_BYTES = 64
DEVICE_SIGNATURE_BYTES = 64
MAX_EMPLOYEE = 32
_CERT_HEADER = struct.Struct(">B4sIII33sB")
_STEP = struct.Struct(">I")
_EMPLOYEE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_MIN_RAW = _CERT_HEADER.size + 1 + ORG_SIGNATURE_BYTES + _STEP.size + DEVICE_SIGNATURE_BYTES
_MAX_RAW = _MIN_RAW - 1 + MAX_EMPLOYEE
_MAX_TEXT = len(PREFIX) + (_MAX_RAW * 8 + 4) // 5
_ECDSA = ec.ECDSA(hashes.SHA256())
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order


def compress(public: ec.EllipticCurvePublicKey) -> bytes:
    """The 33-byte SEC1 compressed point of a P-256 key (WebCrypto exports 65 bytes
    uncompressed; the hub compresses at enrollment)."""
    if not isinstance(public.curve, ec.SECP256R1):
        raise ProtocolError("device keys are P-256")
    return public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


@dataclass(frozen=True)
class DeviceCertificate:
    key_id: bytes
    serial: int
    valid_from: int
    valid_until: int
    device_key: bytes  # compressed P-256 point
    employee: str
    signature: bytes = b""

    def signed_part(self) -> bytes:
        emp = self.employee.encode("ascii")
        head = _CERT_HEADER.pack(
            VERSION,
            self.key_id,
            self.serial,
            self.valid_from,
            self.valid_until,
            self.device_key,
            len(emp),
        )
        return head + emp

    def to_bytes(self) -> bytes:
        return self.signed_part() + self.signature

    @property
    def cert_id(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()[:CERT_ID_BYTES]


@dataclass(frozen=True)
class PhoneCode:
    cert: DeviceCertificate
    step: int
    signature: bytes  # r || s, 32 bytes each

    def to_bytes(self) -> bytes:
        return self.cert.to_bytes() + _STEP.pack(self.step) + self.signature

    def to_text(self) -> str:
        return PREFIX + base64.b32encode(self.to_bytes()).decode("ascii").rstrip("=")


def device_message(step: int, cert_id: bytes) -> bytes:
    """What the phone signs: CODE_DOMAIN + step + certificate id."""
    return CODE_DOMAIN + _STEP.pack(step) + cert_id


@dataclass(frozen=True)
class DeviceKey:
    """A phone's device key pair. On a phone it lives in the browser; here it serves tests,
    vectors and benchmarks (and a reference for the page's signing)."""

    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_scalar(cls, scalar: int) -> DeviceKey:
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()))

    @property
    def public_point(self) -> bytes:
        return compress(self.private.public_key())

    def sign_step(self, cert: DeviceCertificate, step: int) -> PhoneCode:
        if not 0 <= step < 2**32:
            raise ProtocolError(f"time step {step} does not fit in 32 bits")
        der = self.private.sign(
            device_message(step, cert.cert_id),
            ec.ECDSA(hashes.SHA256(), deterministic_signing=True),
        )
        r, s = decode_dss_signature(der)
        return PhoneCode(cert, step, r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def code_at(self, cert: DeviceCertificate, unix_s: int) -> PhoneCode:
        return self.sign_step(cert, unix_s // STEP_S)


def certify(
    key: SigningKey,
    employee: str,
    serial: int,
    device_key: bytes,
    valid_from: int,
    valid_until: int,
) -> DeviceCertificate:
    """Issue an org-signed device certificate (the hub does this at enrollment)."""
    badge.check_holder(employee, serial, valid_from, valid_until)
    if len(device_key) != POINT_BYTES:
        raise ProtocolError("the device key must be a 33-byte compressed P-256 point")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), device_key)
    except ValueError as exc:
        raise ProtocolError(f"not a P-256 point: {exc}") from exc
    unsigned = DeviceCertificate(key.key_id, serial, valid_from, valid_until, device_key, employee)
    return DeviceCertificate(
        key.key_id,
        serial,
        valid_from,
        valid_until,
        device_key,
        employee,
        key.sign(CERT_DOMAIN + unsigned.signed_part()),
    )


def parse(text: str) -> PhoneCode:
    """Decode a phone code's text form; raises ProtocolError unless it is well-formed and
    canonical. Checks no signature."""
    if not text.startswith(PREFIX):
        raise ProtocolError("not a phone code")
    body = text[len(PREFIX) :]
    if len(text) > _MAX_TEXT or not body.isascii():
        raise ProtocolError("malformed: wrong length or characters")
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"malformed: not Base32 ({exc})") from exc
    if len(raw) < _MIN_RAW:
        raise ProtocolError("malformed: truncated")
    version, key_id, serial, valid_from, valid_until, point, emp_len = _CERT_HEADER.unpack_from(raw)
    if version != VERSION:
        raise ProtocolError(f"malformed: unknown version {version}")
    if len(raw) != _MIN_RAW - 1 + emp_len:
        raise ProtocolError("malformed: length does not match the employee field")
    if point[0] not in (2, 3):
        raise ProtocolError("malformed: device key is not a compressed point")
    end = _CERT_HEADER.size + emp_len
    employee = raw[_CERT_HEADER.size : end].decode("ascii", errors="replace")
    if not _EMPLOYEE.fullmatch(employee):
        raise ProtocolError("malformed: employee number has forbidden characters")
    cert = DeviceCertificate(
        key_id,
        serial,
        valid_from,
        valid_until,
        point,
        employee,
        raw[end : end + ORG_SIGNATURE_BYTES],
    )
    (step,) = _STEP.unpack_from(raw, end + ORG_SIGNATURE_BYTES)
    code = PhoneCode(cert, step, raw[-DEVICE_SIGNATURE_BYTES:])
    if code.to_text() != text:
        raise ProtocolError("malformed: not in canonical form")
    return code


@dataclass(frozen=True)
class PhoneVerdict:
    reason: Reason
    code: PhoneCode | None = None

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


def _device_signature_ok(code: PhoneCode) -> bool | None:
    """True/False for the device signature; None if the certified point is not on the curve."""
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), code.cert.device_key)
    except ValueError:
        return None
    r = int.from_bytes(code.signature[:32], "big")
    s = int.from_bytes(code.signature[32:], "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    try:
        public.verify(
            encode_dss_signature(r, s), device_message(code.step, code.cert.cert_id), _ECDSA
        )
    except InvalidSignature:
        return False
    return True


def step_of(unix_s: int) -> int:
    return unix_s // STEP_S


def verify(
    text: str,
    keys: KeyRing,
    revoked: Revocations,
    now: int,
    *,
    synced: bool = True,
) -> PhoneVerdict:
    """Verify a scanned phone code at the station's Unix time `now`. Never raises.

    Order: org key -> org signature -> revocation (by the certificate's serial) -> device
    signature -> certificate validity -> time step. `synced` False (the station's clock is not
    NTP-synced) skips the certificate's not-before and widens the step's future bound to
    UNSYNCED_AHEAD_STEPS; the past bound stays SYNCED_TOLERANCE_STEPS.
    """
    if not text.startswith(PREFIX):
        return PhoneVerdict(Reason.NOT_A_BADGE)
    try:
        code = parse(text)
    except ProtocolError:
        return PhoneVerdict(Reason.MALFORMED)
    cert = code.cert
    public = keys.get(cert.key_id)
    if public is None:
        return PhoneVerdict(Reason.UNKNOWN_KEY, code)
    try:
        public.verify(cert.signature, CERT_DOMAIN + cert.signed_part())
    except InvalidSignature:
        return PhoneVerdict(Reason.BAD_SIGNATURE, code)
    if cert.serial in revoked:
        return PhoneVerdict(Reason.REVOKED, code)
    device_ok = _device_signature_ok(code)
    if device_ok is None:
        return PhoneVerdict(Reason.MALFORMED, code)
    if not device_ok:
        return PhoneVerdict(Reason.PHONE_BAD_DEVICE_SIGNATURE, code)
    if synced and now < cert.valid_from:
        return PhoneVerdict(Reason.NOT_YET_VALID, code)
    if now >= cert.valid_until:
        return PhoneVerdict(Reason.EXPIRED, code)
    current = step_of(now)
    if code.step < current - SYNCED_TOLERANCE_STEPS:
        return PhoneVerdict(Reason.PHONE_EXPIRED_STEP, code)
    ahead = SYNCED_TOLERANCE_STEPS if synced else UNSYNCED_AHEAD_STEPS
    if code.step > current + ahead:
        return PhoneVerdict(Reason.PHONE_FUTURE_STEP, code)
    return PhoneVerdict(Reason.OK, code)
