"""100,000 hostile payloads against the badge token parser and verifier (presensi.protocol.badge),
as a camera may read them or an attacker may print them: random text, random bytes behind
"PRS1:", well-formed tokens with forged signatures, bit flips, truncations, extensions and
text edits of real tokens.

The properties: `parse` raises nothing but ProtocolError, and what it accepts is canonical;
`verify` never raises and never says ok to anything the org key did not sign (the only texts
it accepts are the exact texts of tokens the org key signed).

The examples are split over five tests of 20,000 each (a few minutes in all: marked slow).
The same parser is also fuzzed with coverage guidance by fuzz/fuzz_badge.py (atheris).
"""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presensi.protocol import badge
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Reason

pytestmark = pytest.mark.slow

ORG = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(range(1, 33)))  # a key the stations do not trust
RING = KeyRing.of([ORG.public])
NO_REVOCATIONS = Revocations()
NOW = 1_800_000_000
# real tokens, valid at NOW, with employee numbers of several lengths
VALID = [
    badge.issue(ORG, employee, serial, NOW - 86_400, NOW + 86_400).to_text()
    for serial, employee in enumerate(["E", "EMP-00017", "BUS.07_driver-x", "Z" * 32], 1)
]
SIGNED = set(VALID)
EXAMPLES = 20_000
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def check(text: str) -> None:
    """The two properties, for any text."""
    try:
        token = badge.parse(text)
    except ProtocolError:
        token = None
    if token is not None:
        assert token.to_text() == text  # only the canonical form parses
    verdict = badge.verify(text, RING, NO_REVOCATIONS, NOW)
    if verdict.ok:
        assert text in SIGNED, text
    # with the check of not-before off too (an unsynced station)
    assert badge.verify(text, RING, NO_REVOCATIONS, NOW, check_not_before=False).ok == (
        text in SIGNED
    )


@HOSTILE
@given(
    st.one_of(
        st.text(max_size=400),
        st.text(max_size=300).map(lambda s: badge.PREFIX + s),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=abc01 \n", max_size=300).map(
            lambda s: badge.PREFIX + s
        ),
    )
)
def test_random_text(text: str) -> None:
    check(text)


@HOSTILE
@given(st.binary(max_size=160))
def test_random_bytes_behind_the_prefix(data: bytes) -> None:
    check(badge.PREFIX + b32(data))


@HOSTILE
@given(
    st.sampled_from([ORG.key_id, OTHER.key_id, b"\x00" * 4]),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.from_regex(r"[A-Za-z0-9._-]{1,32}", fullmatch=True),
    st.one_of(
        st.binary(min_size=64, max_size=64),
        st.just(bytes(64)),
        st.sampled_from([badge.parse(t).signature for t in VALID]),  # a real signature, moved
    ),
    st.booleans(),
)
def test_well_formed_tokens_with_forged_signatures(
    key_id: bytes,
    serial: int,
    valid_from: int,
    valid_until: int,
    employee: str,
    signature: bytes,
    signed_by_other: bool,
) -> None:
    token = badge.BadgeToken(key_id, serial, valid_from, valid_until, employee, signature)
    if signed_by_other:  # correctly signed, by a key the stations do not trust
        token = badge.BadgeToken(
            key_id,
            serial,
            valid_from,
            valid_until,
            employee,
            OTHER.sign(badge.DOMAIN + token.signed_part()),
        )
    text = token.to_text()
    assert badge.parse(text) == token  # well-formed: the signature is what must refuse it
    check(text)
    if text not in SIGNED:
        assert badge.verify(text, RING, NO_REVOCATIONS, NOW).reason in {
            Reason.BAD_SIGNATURE,
            Reason.UNKNOWN_KEY,
        }


@HOSTILE
@given(
    st.sampled_from(VALID),
    st.lists(st.integers(0, 8 * 200), min_size=1, max_size=8),
)
def test_bit_flips_of_valid_tokens(text: str, bits: list[int]) -> None:
    raw = bytearray(badge.parse(text).to_bytes())
    for bit in bits:
        raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    check(badge.PREFIX + b32(bytes(raw)))


@st.composite
def edited(draw: st.DrawFn) -> str:
    """A valid token's text or bytes, truncated, extended or edited."""
    text = draw(st.sampled_from(VALID))
    raw = badge.parse(text).to_bytes()
    kind = draw(
        st.sampled_from(
            ["cut", "cut bytes", "extend", "extend bytes", "edit", "case", "pad", "length"]
        )
    )
    if kind == "cut":
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == "cut bytes":
        return badge.PREFIX + b32(raw[: draw(st.integers(0, len(raw) - 1))])
    if kind == "extend":
        return text + draw(st.text(min_size=1, max_size=40))
    if kind == "extend bytes":
        return badge.PREFIX + b32(raw + draw(st.binary(min_size=1, max_size=40)))
    if kind == "edit":
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        return text[:at] + draw(st.text(max_size=5)) + text[at + cut :]
    if kind == "case":
        at = draw(st.integers(0, len(text) - 1))
        return text[:at] + text[at:].lower()
    if kind == "pad":
        return text + "=" * draw(st.integers(1, 7))
    # a length byte that disagrees with the bytes that follow
    length = draw(st.integers(0, 255))
    head = raw[:17] + struct.pack(">B", length)
    return badge.PREFIX + b32(head + raw[18:])


@HOSTILE
@given(edited())
def test_truncated_extended_and_edited_tokens(text: str) -> None:
    check(text)


def test_the_valid_tokens_are_accepted() -> None:
    # the properties above are not vacuous: the org's own tokens do verify
    for text in VALID:
        assert badge.verify(text, RING, NO_REVOCATIONS, NOW).ok
