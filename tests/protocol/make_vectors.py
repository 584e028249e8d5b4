"""Writes protocol/src/presensi/protocol/testvectors/badge-v1.json. Ed25519 is deterministic,
so running this again must give the committed file byte for byte (test_badge_vectors checks
that).

    .venv/bin/python tests/protocol/make_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path

from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, raw_public

OUT = Path(__file__).parents[2] / "protocol/src/presensi/protocol/testvectors/badge-v1.json"
ORG_SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
NOW = 1_790_000_000  # 2026-09-21
VALID_FROM = 1_767_225_600  # 2026-01-01T00:00:00Z
VALID_UNTIL = 1_798_761_600  # 2027-01-01T00:00:00Z


def build() -> dict[str, object]:
    org = SigningKey.from_seed(ORG_SEED)
    other = SigningKey.from_seed(OTHER_SEED)
    good = badge.issue(org, "BUS-00123", 1001, VALID_FROM, VALID_UNTIL).to_text()
    raw = bytearray(badge.parse(good).to_bytes())
    raw[7] ^= 0x01  # serial changed after signing
    tampered = badge.BadgeToken(
        bytes(raw[1:5]),
        int.from_bytes(raw[5:9]),
        VALID_FROM,
        VALID_UNTIL,
        "BUS-00123",
        bytes(raw[-64:]),
    ).to_text()
    cases = [
        ("valid", good, "ok"),
        ("tampered_serial", tampered, "bad_signature"),
        ("truncated", good[:-10], "malformed"),
        ("expired", badge.issue(org, "BUS-00124", 1002, VALID_FROM, NOW - 1).to_text(), "expired"),
        (
            "not_yet_valid",
            badge.issue(org, "BUS-00125", 1003, NOW + 86_400, VALID_UNTIL).to_text(),
            "not_yet_valid",
        ),
        (
            "unknown_key",
            badge.issue(other, "BUS-00126", 1004, VALID_FROM, VALID_UNTIL).to_text(),
            "unknown_key",
        ),
        (
            "revoked",
            badge.issue(org, "BUS-00127", 666, VALID_FROM, VALID_UNTIL).to_text(),
            "revoked",
        ),
        ("not_a_badge", "https://example.com/", "not_a_badge"),
        ("lowercase", good.lower(), "not_a_badge"),
    ]
    return {
        "description": "Badge token v1 test vectors; see docs/protocol.md",
        "org_public_key_hex": raw_public(org.public).hex(),
        "org_private_seed_hex": ORG_SEED.hex(),
        "key_ring": KeyRing.of([org.public]).to_json(),
        "revocations": Revocations(1, frozenset({666})).to_json(),
        "now": NOW,
        "cases": [{"name": n, "text": t, "reason": r} for n, t, r in cases],
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
