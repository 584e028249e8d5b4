from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presensi.protocol import badge
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason
from tests.protocol import make_vectors

VECTORS = Path(badge.__file__).parent / "testvectors/badge-v1.json"
VEC = json.loads(VECTORS.read_text())
RING = KeyRing.from_json(VEC["key_ring"])
REVOKED = Revocations.from_json(VEC["revocations"])
ORG = SigningKey.from_seed(make_vectors.ORG_SEED)


def test_committed_vectors_are_what_the_code_produces() -> None:
    # pins the byte format: a change to the layout or the signature input breaks this
    assert VECTORS.read_text() == make_vectors.render()


@pytest.mark.parametrize("case", VEC["cases"], ids=lambda c: c["name"])
def test_vector_verdicts(case: dict[str, str]) -> None:
    verdict = badge.verify(case["text"], RING, REVOKED, VEC["now"])
    assert verdict.reason == Reason(case["reason"])


def test_valid_vector_decodes_to_its_fields() -> None:
    token = badge.parse(VEC["cases"][0]["text"])
    assert (token.employee, token.serial) == ("BUS-00123", 1001)
    assert token.key_id.hex() == VEC["key_ring"]["keys"][0]["key_id"]
    assert len(token.to_bytes()) == 18 + len("BUS-00123") + 64


def test_token_text_is_qr_alphanumeric() -> None:
    text = badge.issue(ORG, "E1", 7, 0, 10).to_text()
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_not_before_is_skipped_when_the_clock_is_not_synced() -> None:
    text = next(c["text"] for c in VEC["cases"] if c["name"] == "not_yet_valid")
    assert badge.verify(text, RING, REVOKED, VEC["now"], check_not_before=False).ok


def test_expiry_boundary_is_exclusive() -> None:
    token = badge.issue(ORG, "E1", 7, 100, 200)
    assert badge.verify(token.to_text(), RING, Revocations(), 199).ok
    assert badge.verify(token.to_text(), RING, Revocations(), 200).reason is Reason.EXPIRED
    assert badge.verify(token.to_text(), RING, Revocations(), 99).reason is Reason.NOT_YET_VALID


@pytest.mark.parametrize(
    ("employee", "serial", "start", "end"),
    [
        ("", 1, 0, 10),
        ("x" * 33, 1, 0, 10),
        ("a b", 1, 0, 10),
        ("E", -1, 0, 10),
        ("E", 2**32, 0, 10),
        ("E", 1, 10, 10),
    ],
)
def test_issue_refuses_bad_fields(employee: str, serial: int, start: int, end: int) -> None:
    with pytest.raises(ProtocolError):
        badge.issue(ORG, employee, serial, start, end)


def test_every_single_bit_flip_is_refused() -> None:
    raw = badge.issue(ORG, "BUS-9", 5, 0, 2**31).to_bytes()
    for i in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[i // 8] ^= 1 << (i % 8)
        text = badge.PREFIX + __import__("base64").b32encode(bytes(flipped)).decode().rstrip("=")
        assert badge.verify(text, RING, Revocations(), 1000).reason is not Reason.OK, i


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=2048))
def test_arbitrary_text_never_crashes_nor_passes(text: str) -> None:
    verdict = badge.verify(text, RING, REVOKED, VEC["now"])
    assert verdict.reason is not Reason.OK


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_arbitrary_signed_looking_bytes_are_refused(data: bytes) -> None:
    import base64

    text = badge.PREFIX + base64.b32encode(data).decode().rstrip("=")
    verdict = badge.verify(text, RING, REVOKED, VEC["now"])
    assert verdict.reason in {Reason.MALFORMED, Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE}


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9._-]{1,32}", fullmatch=True),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 2),
)
def test_issue_parse_roundtrip(employee: str, serial: int, start: int) -> None:
    token = badge.issue(ORG, employee, serial, start, start + 1)
    assert badge.parse(token.to_text()) == token
    assert badge.verify(token.to_text(), RING, Revocations(), start).ok
