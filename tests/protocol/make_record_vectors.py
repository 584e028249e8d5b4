"""Writes protocol/src/presensi/protocol/testvectors/record-v2.json: scan records of schema 1 and
2 with their canonical bytes and hashes, a signed batch of version 2 and a hub ack. Ed25519 is
deterministic, so running this again must give the committed file byte for byte
(tests/protocol/test_record_vectors.py checks that).

    .venv/bin/python tests/protocol/make_record_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from presensi.protocol import wire
from presensi.protocol.keys import SigningKey, raw_public
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import GENESIS, LEGACY_JOURNAL, ScanRecord

OUT = Path(__file__).parents[2] / "protocol/src/presensi/protocol/testvectors/record-v2.json"
STATION_SEED = bytes(range(64, 96))
JOURNAL = "5d41402abc4b2a76b9719d911017c592"


def record(seq: int, prev: str, **changes: object) -> ScanRecord:
    base = ScanRecord(
        station="st-pool-mangkang-01",
        journal=JOURNAL,
        seq=seq,
        scan_id=f"0199a8f0-2c40-7a3e-8b1f-{seq:012x}",
        employee="TS-0101",
        serial=1001,
        outcome=Outcome.ACCEPTED,
        reason=Reason.OK,
        direction="in" if seq % 2 else "out",
        payload_sha256="3b2c8a9e0f1d4c5b6a79887766554433",
        payload_len=151,
        wall_ms=1_790_000_000_000 + seq * 60_000,
        mono_ns=seq * 60 * 10**9,
        boot_id="0f9d0b36-6a3c-4f6e-9a57-3c1f4c3e8a10",
        clock_synced=True,
        clock_last_sync_ms=1_789_999_000_000,
        location="pool-mangkang",
        config_version=1,
        prev_hash=prev,
    )
    return msgspec.structs.replace(base, **changes) if changes else base


def build() -> dict[str, object]:
    key = SigningKey.from_seed(STATION_SEED)
    legacy = record(1, GENESIS, v=1, journal=LEGACY_JOURNAL)
    first = record(1, GENESIS)
    second = record(2, first.digest())
    batch = wire.sign_batch(wire.batch_of(first.station, JOURNAL, [first, second]), key)
    ack = wire.encode(wire.Ack(2, JOURNAL, second.digest(), False))
    return {
        "description": "Scan record schema 1 and 2, batch version 2, ack; see docs/protocol.md",
        "station_public_key_hex": raw_public(key.public).hex(),
        "station_private_seed_hex": STATION_SEED.hex(),
        "records": [
            {"name": name, "canonical": r.canonical().decode(), "sha256": r.digest()}
            for name, r in (
                ("schema_1_legacy", legacy),
                ("schema_2_first", first),
                ("schema_2_second", second),
            )
        ],
        "batch": batch.decode(),
        "ack": ack.decode(),
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
