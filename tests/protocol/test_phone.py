from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from presensi.protocol import badge, phone
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason
from tests.protocol import make_phone_vectors

VECTORS = Path(phone.__file__).parent / "testvectors/phone-v1.json"
VEC = json.loads(VECTORS.read_text())
RING = KeyRing.from_json(VEC["key_ring"])
REVOKED = Revocations.from_json(VEC["revocations"])
ORG = SigningKey.from_seed(make_phone_vectors.ORG_SEED)
DEVICE = phone.DeviceKey.from_scalar(make_phone_vectors.DEVICE_SCALAR)
NOW = VEC["now"]
CERT = phone.certify(ORG, "BUS-00123", 2001, DEVICE.public_point, 0, 2**32 - 1)
VALID_TEXT = VEC["cases"][0]["text"]


def b32(raw: bytes) -> str:
    return phone.PREFIX + base64.b32encode(raw).decode("ascii").rstrip("=")


def test_committed_vectors_are_what_the_code_produces() -> None:
    # pins the byte format: a change to the layout or either signature input breaks this
    assert VECTORS.read_text() == make_phone_vectors.render()


@pytest.mark.parametrize("case", VEC["cases"], ids=lambda c: c["name"])
def test_vector_verdicts(case: dict[str, str]) -> None:
    assert phone.verify(case["text"], RING, REVOKED, NOW).reason == Reason(case["reason"])


def test_valid_vector_decodes_to_its_fields() -> None:
    code = phone.parse(VALID_TEXT)
    assert (code.cert.employee, code.cert.serial, code.step) == ("BUS-00123", 2001, NOW // 15)
    assert code.cert.device_key.hex() == VEC["device_public_key_hex"]
    assert code.cert.cert_id.hex() == VEC["certificate_id_hex"]
    assert len(code.to_bytes()) == 51 + len("BUS-00123") + 64 + 4 + 64


def test_phone_and_printed_badges_tell_each_other_apart() -> None:
    assert not phone.PREFIX.startswith(badge.PREFIX) and not badge.PREFIX.startswith(phone.PREFIX)
    assert badge.verify(VALID_TEXT, RING, REVOKED, NOW).reason is Reason.NOT_A_BADGE
    card = badge.issue(ORG, "BUS-00123", 1001, 0, 2**32 - 1).to_text()
    assert phone.verify(card, RING, REVOKED, NOW).reason is Reason.NOT_A_BADGE
    assert badge.verify(card, RING, REVOKED, NOW).ok  # printed cards: unchanged


def test_text_is_qr_alphanumeric_and_its_qr_version_is_measured() -> None:
    text = DEVICE.code_at(CERT, NOW).to_text()
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    # the figures docs/protocol.md gives: 9-character employee number, 313 characters
    assert len(text) == 313
    versions = {e: segno.make_qr(text, error=e, boost_error=False).version for e in "lmq"}
    assert versions == {"l": 9, "m": 11, "q": 13}
    longest = phone.certify(ORG, "Z" * 32, 1, DEVICE.public_point, 0, 1)
    long_text = DEVICE.sign_step(longest, 1).to_text()
    assert segno.make_qr(long_text, error="m", boost_error=False).version == 11  # any code
    assert segno.make_qr(long_text, error="m").mode == "alphanumeric"


def test_the_rotating_code_changes_every_step() -> None:
    texts = {DEVICE.code_at(CERT, t).to_text() for t in range(NOW, NOW + 60)}
    assert len(texts) == len({t // phone.STEP_S for t in range(NOW, NOW + 60)})


@pytest.mark.parametrize(
    ("offset_steps", "synced", "reason"),
    [
        (-2, True, Reason.PHONE_EXPIRED_STEP),
        (-1, True, Reason.OK),
        (0, True, Reason.OK),
        (1, True, Reason.OK),
        (2, True, Reason.PHONE_FUTURE_STEP),
        (-2, False, Reason.PHONE_EXPIRED_STEP),  # a lagging clock only makes codes look newer
        (phone.UNSYNCED_AHEAD_STEPS, False, Reason.OK),
        (phone.UNSYNCED_AHEAD_STEPS + 1, False, Reason.PHONE_FUTURE_STEP),
    ],
)
def test_step_tolerance_follows_the_clock_state(
    offset_steps: int, synced: bool, reason: Reason
) -> None:
    step = NOW // phone.STEP_S + offset_steps
    text = DEVICE.sign_step(CERT, step).to_text()
    assert phone.verify(text, RING, Revocations(), NOW, synced=synced).reason is reason


def test_certificate_not_before_is_skipped_when_the_clock_is_not_synced() -> None:
    cert = phone.certify(ORG, "E1", 5, DEVICE.public_point, NOW + 86_400, NOW + 2 * 86_400)
    text = DEVICE.code_at(cert, NOW).to_text()
    assert phone.verify(text, RING, Revocations(), NOW).reason is Reason.NOT_YET_VALID
    assert phone.verify(text, RING, Revocations(), NOW, synced=False).ok


def test_a_rotated_org_key_verifies_and_a_retired_one_does_not() -> None:
    new = SigningKey.from_seed(b"\x07" * 32)
    cert = phone.certify(new, "E1", 5, DEVICE.public_point, 0, 2**32 - 1)
    text = DEVICE.code_at(cert, NOW).to_text()
    assert phone.verify(text, KeyRing.of([ORG.public, new.public]), Revocations(), NOW).ok
    assert phone.verify(text, RING, Revocations(), NOW).reason is Reason.UNKNOWN_KEY


def test_revocation_is_by_the_certificates_serial() -> None:
    text = DEVICE.code_at(CERT, NOW).to_text()
    assert phone.verify(text, RING, Revocations(2, frozenset({2001})), NOW).reason is (
        Reason.REVOKED
    )


def test_an_off_curve_device_key_in_a_signed_certificate_is_malformed() -> None:
    bad_point = b"\x02" + b"\xff" * 32  # x >= p: no such point
    unsigned = dataclasses.replace(CERT, device_key=bad_point, signature=b"")
    cert = dataclasses.replace(
        unsigned, signature=ORG.sign(phone.CERT_DOMAIN + unsigned.signed_part())
    )
    text = phone.PhoneCode(cert, NOW // 15, b"\x01" * 64).to_text()
    assert phone.verify(text, RING, Revocations(), NOW).reason is Reason.MALFORMED


@pytest.mark.parametrize("signature", [b"\0" * 64, b"\xff" * 64, b"\0" * 32 + b"\x01" * 32])
def test_out_of_range_device_signatures_are_refused(signature: bytes) -> None:
    text = phone.PhoneCode(CERT, NOW // 15, signature).to_text()
    assert phone.verify(text, RING, Revocations(), NOW).reason is (
        Reason.PHONE_BAD_DEVICE_SIGNATURE
    )


@pytest.mark.parametrize(
    ("employee", "serial", "start", "end", "point"),
    [
        ("", 1, 0, 10, None),
        ("x" * 33, 1, 0, 10, None),
        ("a b", 1, 0, 10, None),
        ("E", -1, 0, 10, None),
        ("E", 2**32, 0, 10, None),
        ("E", 1, 10, 10, None),
        ("E", 1, 0, 10, b"\x04" + b"\0" * 64),
        ("E", 1, 0, 10, b"\x02" + b"\xff" * 32),
    ],
)
def test_certify_refuses_bad_fields(
    employee: str, serial: int, start: int, end: int, point: bytes | None
) -> None:
    with pytest.raises(ProtocolError):
        phone.certify(ORG, employee, serial, point or DEVICE.public_point, start, end)


def test_every_single_bit_flip_is_refused() -> None:
    raw = phone.parse(VALID_TEXT).to_bytes()
    for i in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[i // 8] ^= 1 << (i % 8)
        assert phone.verify(b32(bytes(flipped)), RING, Revocations(), NOW).reason is not (
            Reason.OK
        ), i


def test_every_truncation_is_malformed() -> None:
    for end in range(len(phone.PREFIX), len(VALID_TEXT)):
        assert phone.verify(VALID_TEXT[:end], RING, REVOKED, NOW).reason is Reason.MALFORMED


def test_oversized_text_is_malformed() -> None:
    assert phone.verify(VALID_TEXT + "A" * 10_000, RING, REVOKED, NOW).reason is Reason.MALFORMED


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_reason_and_never_ok(text: str) -> None:
    assert phone.verify(text, RING, REVOKED, NOW).reason is not Reason.OK
    assert phone.verify(phone.PREFIX + text, RING, REVOKED, NOW).reason is not Reason.OK


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_reason_and_never_ok(raw: bytes) -> None:
    text = b32(raw)
    try:
        code = phone.parse(text)
    except ProtocolError:
        code = None
    if code is not None:
        assert code.to_text() == text  # only canonical text parses
    assert phone.verify(text, RING, REVOKED, NOW, synced=False).reason is not Reason.OK


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=64, max_size=64),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
def test_well_formed_unsigned_codes_are_never_accepted(
    org_sig: bytes, step: int, serial: int
) -> None:
    # a well-formed code with the org's key id and this device's key, but signatures not made
    # by the org and the device: only signatures decide
    cert = dataclasses.replace(CERT, serial=serial, signature=org_sig)
    text = phone.PhoneCode(cert, step, org_sig[::-1]).to_text()
    assert phone.parse(text).cert == cert
    assert phone.verify(text, RING, Revocations(), step * 15, synced=False).reason in {
        Reason.BAD_SIGNATURE,
    }


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(min_size=64, max_size=64))
def test_a_certified_device_with_a_foreign_signature_is_refused(step: int, sig: bytes) -> None:
    text = phone.PhoneCode(CERT, step, sig).to_text()
    assert phone.verify(text, RING, Revocations(), step * 15).reason is (
        Reason.PHONE_BAD_DEVICE_SIGNATURE
    )


def test_the_benchmark_runs() -> None:
    from presensi.protocol import phone_bench

    result = phone_bench.figures(5)
    assert result["samples"] == 5 and result["phone_text_chars"] == 313
