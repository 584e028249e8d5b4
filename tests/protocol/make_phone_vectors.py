"""Writes protocol/src/presensi/protocol/testvectors/phone-v1.json. Ed25519 is deterministic and
the device signatures use deterministic ECDSA (RFC 6979), so running this again must give the
committed file byte for byte (test_phone checks that).

    .venv/bin/python tests/protocol/make_phone_vectors.py
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

from presensi.protocol import phone
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, raw_public

OUT = Path(__file__).parents[2] / "protocol/src/presensi/protocol/testvectors/phone-v1.json"
# the org keys and times of badge-v1.json (tests/protocol/make_vectors.py)
ORG_SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
NOW = 1_790_000_000  # 2026-09-21
VALID_FROM = 1_767_225_600  # 2026-01-01T00:00:00Z
VALID_UNTIL = 1_798_761_600  # 2027-01-01T00:00:00Z
DEVICE_SCALAR = 0x5EED_0001
OTHER_DEVICE_SCALAR = 0x5EED_0002
REVOKED_SERIAL = 666


def _text(raw: bytes) -> str:
    return phone.PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")


def build() -> dict[str, object]:
    org = SigningKey.from_seed(ORG_SEED)
    other = SigningKey.from_seed(OTHER_SEED)
    device = phone.DeviceKey.from_scalar(DEVICE_SCALAR)
    stranger = phone.DeviceKey.from_scalar(OTHER_DEVICE_SCALAR)
    point = device.public_point

    def cert(
        serial: int = 2001,
        start: int = VALID_FROM,
        end: int = VALID_UNTIL,
        key: SigningKey = org,
        employee: str = "BUS-00123",
    ) -> phone.DeviceCertificate:
        return phone.certify(key, employee, serial, point, start, end)

    good_cert = cert()
    step = NOW // phone.STEP_S
    good = device.sign_step(good_cert, step).to_text()
    # a certificate signed by another key but claiming the org key's id
    forged = dataclasses.replace(cert(key=other), key_id=org.key_id)
    signed = device.sign_step(good_cert, step)
    moved = phone.PhoneCode(good_cert, step + 1, signed.signature).to_text()  # step edited
    cases = [
        ("valid", good, "ok"),
        ("valid_previous_step", device.sign_step(good_cert, step - 1).to_text(), "ok"),
        ("valid_next_step", device.sign_step(good_cert, step + 1).to_text(), "ok"),
        (
            "wrong_device_key",
            stranger.sign_step(good_cert, step).to_text(),
            "phone_bad_device_signature",
        ),
        ("step_edited", moved, "phone_bad_device_signature"),
        ("forged_certificate", device.sign_step(forged, step).to_text(), "bad_signature"),
        ("unknown_key", device.sign_step(cert(key=other), step).to_text(), "unknown_key"),
        ("expired_certificate", device.sign_step(cert(end=NOW - 1), step).to_text(), "expired"),
        (
            "certificate_not_yet_valid",
            device.sign_step(cert(start=NOW + 86_400), step).to_text(),
            "not_yet_valid",
        ),
        ("step_too_old", device.sign_step(good_cert, step - 2).to_text(), "phone_expired_step"),
        ("step_in_future", device.sign_step(good_cert, step + 2).to_text(), "phone_future_step"),
        ("revoked", device.sign_step(cert(serial=REVOKED_SERIAL), step).to_text(), "revoked"),
        ("truncated", good[:-10], "malformed"),
        ("trailing_byte", _text(phone.parse(good).to_bytes() + b"\0"), "malformed"),
        ("lowercase", good.lower(), "not_a_badge"),
        ("printed_badge_text", "PRS1:AE", "not_a_badge"),
    ]
    return {
        "description": "Phone badge v1 test vectors; see docs/protocol.md. Verify at `now` "
        "with a synced clock.",
        "org_public_key_hex": raw_public(org.public).hex(),
        "org_private_seed_hex": ORG_SEED.hex(),
        "device_private_scalar_hex": f"{DEVICE_SCALAR:x}",
        "device_public_key_hex": point.hex(),
        "certificate_id_hex": good_cert.cert_id.hex(),
        "step_s": phone.STEP_S,
        "key_ring": KeyRing.of([org.public]).to_json(),
        "revocations": Revocations(1, frozenset({REVOKED_SERIAL})).to_json(),
        "now": NOW,
        "cases": [{"name": n, "text": t, "reason": r} for n, t, r in cases],
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
