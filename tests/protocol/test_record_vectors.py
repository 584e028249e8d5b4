"""The committed record, batch and ack vectors pin the bytes of schema 2 (and schema 1)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from presensi.protocol import record as record_module
from presensi.protocol import wire
from presensi.protocol.record import GENESIS, LEGACY_JOURNAL, decode_record, verify_chain
from tests.protocol import make_record_vectors

VECTORS = Path(record_module.__file__).parent / "testvectors/record-v2.json"
VEC = json.loads(VECTORS.read_text())


def test_committed_vectors_are_what_the_code_produces() -> None:
    assert VECTORS.read_text() == make_record_vectors.render()


def test_each_record_decodes_to_its_canonical_bytes_and_hash() -> None:
    for case in VEC["records"]:
        body = case["canonical"].encode()
        parsed = decode_record(body)
        assert parsed.canonical() == body and parsed.digest() == case["sha256"]
    legacy = decode_record(VEC["records"][0]["canonical"].encode())
    assert (legacy.v, legacy.journal) == (1, LEGACY_JOURNAL)
    assert b'"journal"' not in legacy.canonical()  # schema 1 bytes never change


def test_the_batch_opens_with_the_stations_key_and_chains() -> None:
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(VEC["station_public_key_hex"]))
    batch = wire.open_batch(
        VEC["batch"].encode(), {"st-pool-mangkang-01": key}, "st-pool-mangkang-01"
    )
    assert (batch.v, batch.journal) == (2, make_record_vectors.JOURNAL)
    assert verify_chain(batch.records, GENESIS, 1) == VEC["records"][2]["sha256"]
    ack = wire.decode(VEC["ack"].encode(), wire.Ack)
    assert (ack.upto, ack.journal, ack.hash) == (2, batch.journal, batch.records[-1].digest())
