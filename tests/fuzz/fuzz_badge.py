"""Coverage-guided fuzzing of the badge token and phone code parsers and verifiers with atheris
(libFuzzer).

    pip install -e '.[fuzz]'                          # atheris: x86_64 Linux wheels
    python fuzz/fuzz_badge.py -max_total_time=60      # any libFuzzer flag works
    python fuzz/fuzz_badge.py -max_total_time=600 -jobs=2 corpus/   # keep a corpus

Each input becomes a scanned text in one of seven ways, chosen by its first byte: the bytes as
text; "PRS1:" + Base32 of the bytes; a real token's bytes XORed with the input; a well-formed
token (the org's key id, fields and signature from the input); and the same three for phone
codes ("PRP1:", presensi.protocol.phone; the well-formed one carries a real certificate with
the input's step and device signature, or the input's certificate fields). The properties, as in
tests/provisioning/test_badge_hostile.py: parse raises nothing but ProtocolError and accepts only
canonical text; verify never raises and accepts only the exact text of a token the org key
signed (or of a code the enrolled device signed). Both verifiers see every input. A violation
raises, which libFuzzer reports as a crash with the input saved.

What the hub takes in for phones (enrollment codes, device keys, the fleet documents it merges
into its revocation list) is fuzzed by fuzz_phone_hub.py.

This file is not part of the test suite (pytest collects tests/ only) and needs atheris, which
the dev extra does not install.
"""

from __future__ import annotations

import base64
import struct
import sys

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from presensi.protocol import badge, phone
    from presensi.protocol.errors import ProtocolError
    from presensi.protocol.keys import KeyRing, Revocations, SigningKey

ORG = SigningKey.from_seed(bytes(range(32)))
RING = KeyRing.of([ORG.public])
NONE_REVOKED = Revocations()
NOW = 1_800_000_000
VALID = [
    badge.issue(ORG, employee, serial, NOW - 86_400, NOW + 86_400)
    for serial, employee in enumerate(["E", "EMP-00017", "Z" * 32], 1)
]
SIGNED = {token.to_text() for token in VALID}
DEVICE = phone.DeviceKey.from_scalar(0xF00D)
CERTS = [
    phone.certify(ORG, employee, 100 + serial, DEVICE.public_point, NOW - 86_400, NOW + 86_400)
    for serial, employee in enumerate(["E", "EMP-00017", "Z" * 32], 1)
]
STEP = NOW // phone.STEP_S
CODES = [DEVICE.sign_step(cert, STEP + d) for cert in CERTS for d in (-1, 0, 1)]
SIGNED_CODES = {code.to_text() for code in CODES}


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def payload(data: bytes) -> str:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 6)
    if mode == 0:
        return str(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))
    if mode == 1:
        return badge.PREFIX + _b32(fdp.ConsumeBytes(fdp.remaining_bytes()))
    if mode == 2:
        raw = bytearray(VALID[fdp.ConsumeIntInRange(0, len(VALID) - 1)].to_bytes())
        mask = fdp.ConsumeBytes(fdp.remaining_bytes())
        for i, b in enumerate(mask):
            raw[i % len(raw)] ^= b
        return badge.PREFIX + _b32(bytes(raw))
    if mode == 4:
        return phone.PREFIX + _b32(fdp.ConsumeBytes(fdp.remaining_bytes()))
    if mode == 5:
        raw = bytearray(CODES[fdp.ConsumeIntInRange(0, len(CODES) - 1)].to_bytes())
        mask = fdp.ConsumeBytes(fdp.remaining_bytes())
        for i, b in enumerate(mask):
            raw[i % len(raw)] ^= b
        return phone.PREFIX + _b32(bytes(raw))
    if mode == 6:
        cert = CERTS[fdp.ConsumeIntInRange(0, len(CERTS) - 1)]
        if fdp.ConsumeBool():  # the input's certificate fields and org signature
            head = struct.pack(
                ">B4sIII",
                phone.VERSION,
                ORG.key_id,
                *(fdp.ConsumeIntInRange(0, 2**32 - 1) for _ in range(3)),
            )
            employee = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32))
            point = fdp.ConsumeBytes(33).ljust(33, b"\x02")
            org_sig = fdp.ConsumeBytes(64).ljust(64, b"\0")
            cert_raw = head + point + bytes([len(employee)]) + employee + org_sig
        else:
            cert_raw = cert.to_bytes()
        step = struct.pack(">I", STEP + fdp.ConsumeIntInRange(-2, 2))
        signature = fdp.ConsumeBytes(64).ljust(64, b"\0")
        return phone.PREFIX + _b32(cert_raw + step + signature)
    serial, start, end = (fdp.ConsumeIntInRange(0, 2**32 - 1) for _ in range(3))
    employee = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32))
    signature = fdp.ConsumeBytes(64).ljust(64, b"\0")
    head = struct.pack(">B4sIIIB", badge.VERSION, ORG.key_id, serial, start, end, len(employee))
    return badge.PREFIX + _b32(head + employee + signature)


def test_one_input(data: bytes) -> None:
    text = payload(data)
    try:
        token = badge.parse(text)
    except ProtocolError:
        token = None
    if token is not None and token.to_text() != text:
        raise AssertionError(f"non-canonical text accepted: {text!r}")
    for check_not_before in (True, False):
        verdict = badge.verify(text, RING, NONE_REVOKED, NOW, check_not_before=check_not_before)
        if verdict.ok != (text in SIGNED):
            raise AssertionError(f"verdict {verdict.reason} for {text!r}")
    try:
        code = phone.parse(text)
    except ProtocolError:
        code = None
    if code is not None and code.to_text() != text:
        raise AssertionError(f"non-canonical phone code accepted: {text!r}")
    for synced in (True, False):
        pv = phone.verify(text, RING, NONE_REVOKED, NOW, synced=synced)
        if pv.ok != (text in SIGNED_CODES):
            raise AssertionError(f"phone verdict {pv.reason} for {text!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
