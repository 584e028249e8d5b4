"""Coverage-guided fuzzing of what the hub takes in for phone badges, with atheris (libFuzzer):
the enrollment code and the device key a phone page posts (`POST /ponsel/daftar` needs no
login), and the fleet documents the running hub hears on the broker and merges into the
revocation list it signs (presensi.hub.revocation_publisher). The phone code itself is fuzzed
by fuzz_badge.py.

    pip install -e '.[fuzz]'                          # atheris: x86_64 Linux wheels
    python -m tests.fuzz.fuzz_phone_hub -max_total_time=60

The properties: `normalise_code` gives 12 characters of the code alphabet or raises
EnrollmentError; `device_point` gives a 33-byte P-256 point or raises EnrollmentError; the
publisher never raises, adopts as the org's list only one the org's key signed, and what it
publishes is signed by the phone key, holds every serial of the org's list and has a version
above it. The first byte of an input picks which. A violation raises, which libFuzzer reports
as a crash with the input saved. Not part of the test suite (needs atheris).
"""

from __future__ import annotations

import base64
import logging
import sys
from typing import Any

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from cryptography.hazmat.primitives.asymmetric import ec

    from presensi.hub import phones
    from presensi.hub.revocation_publisher import RevocationPublisher
    from presensi.protocol import topics
    from presensi.protocol.errors import ProtocolError
    from presensi.protocol.fleet import keys_document, open_document, revocations_document
    from presensi.protocol.keys import KeyRing, Revocations, SigningKey

ORG = SigningKey.from_seed(bytes(range(32)))
PHONE_KEY = SigningKey.from_seed(bytes(range(1, 33)))
OTHER = SigningKey.from_seed(bytes(range(2, 34)))
RING = KeyRing.of([ORG.public])
SIGNED = [
    revocations_document(Revocations(3, frozenset({1, 2})), ORG),
    revocations_document(Revocations((3 << 24) + 1, frozenset({1, 2**31})), PHONE_KEY),
    keys_document(KeyRing.of([ORG.public, OTHER.public]), 2, ORG),
]


class NoPhones:
    """The store's answers when no phone is revoked (the publisher's only query)."""

    def execute(self, sql: str, params: Any = ()) -> list[tuple[int, ...]]:
        return [(0,)] if "COUNT" in sql else []


def check_code(text: str) -> None:
    try:
        code = phones.normalise_code(text)
    except phones.EnrollmentError:
        return
    if len(code) != phones.CODE_LENGTH or any(c not in phones.CODE_ALPHABET for c in code):
        raise AssertionError(f"accepted {text!r} as {code!r}")


def check_key(text: str) -> None:
    try:
        point = phones.device_point(text)
    except phones.EnrollmentError:
        return
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # raises if not
    if len(point) != 33:
        raise AssertionError(f"accepted {text!r} as {point.hex()}")


def check_publisher(fdp: atheris.FuzzedDataProvider) -> None:
    hub = RevocationPublisher(PHONE_KEY, RING, 1)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        topic = (topics.FLEET_REVOCATIONS, topics.FLEET_KEYS)[fdp.ConsumeIntInRange(0, 1)]
        how = fdp.ConsumeIntInRange(0, 2)
        if how == 0:  # any bytes
            payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))
        elif how == 1:  # a real document with bits flipped
            raw = bytearray(SIGNED[fdp.ConsumeIntInRange(0, len(SIGNED) - 1)])
            for b in fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)):
                raw[(b * 7919) % len(raw)] ^= 1 << (b % 8)
            payload = bytes(raw)
        else:  # a well-formed list from the input, signed by one of the keys
            signer = (ORG, PHONE_KEY, OTHER)[fdp.ConsumeIntInRange(0, 2)]
            serials = frozenset(fdp.ConsumeIntInRange(0, 2**40) for _ in range(3))
            listed = Revocations(fdp.ConsumeIntInRange(0, 2**40), serials)
            payload = revocations_document(listed, signer)
        before = hub.org
        hub.heard(topic, payload)
        document = hub.due(NoPhones())  # type: ignore[arg-type]
        trusted = [ORG, PHONE_KEY, *([OTHER] if hub.keys_version >= 2 else [])]
        if hub.org != before and not any(signed_by(payload, key) for key in trusted):
            raise AssertionError(f"adopted a list no trusted key signed: {payload!r}")
        if document is not None:
            assert hub.org is not None
            merged = Revocations.from_json(
                open_document(document, KeyRing.of([PHONE_KEY.public]), "revocations")
            )
            if not hub.org.serials <= merged.serials or merged.version < hub.org.version:
                raise AssertionError(f"published {merged} for the org's {hub.org}")


def signed_by(payload: bytes, key: SigningKey) -> bool:
    try:
        open_document(payload, KeyRing.of([key.public]), "revocations")
    except ProtocolError:
        return False
    return True


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, 3)
    if which == 0:
        check_code(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 60)))
    elif which == 1:
        check_key(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 120)))
    elif which == 2:
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80))
        check_key(base64.b64encode(raw).decode())
    else:
        check_publisher(fdp)


def main() -> None:
    logging.disable(logging.CRITICAL)  # the publisher warns of every bad document
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
