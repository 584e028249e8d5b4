"""A halte station under MicroPython on fake pins and a fake UART: what each scan records and
signals, garbage and over-long lines from the module, the batch test vector, a full flash."""

from __future__ import annotations

import json

from presensi.protocol import wire
from presensi.protocol.record import decode_record
from tests.firmware.wasm import run_mp
from tests.protocol.make_record_vectors import OUT as RECORD_VECTORS
from tests.protocol.make_vectors import OUT as BADGE_VECTORS


def run(capacity: int = 30_000) -> dict[str, dict[str, object]]:
    badges = json.loads(BADGE_VECTORS.read_text())
    recs = json.loads(RECORD_VECTORS.read_text())
    badges["station_private_seed_hex"] = recs["station_private_seed_hex"]
    batch_records = [r["canonical"] for r in recs["records"] if '"v":2' in r["canonical"]]
    out = run_mp("station_flow.py", json.dumps(badges), json.dumps(batch_records), str(capacity))
    return {o["case"]: o for o in out}


def test_scans_garbage_batches_and_a_full_flash() -> None:
    badges = json.loads(BADGE_VECTORS.read_text())
    by = run()
    seqs = []
    for case in badges["cases"]:
        (scan,) = by[case["name"]]["scans"]  # type: ignore[misc]
        rec = decode_record(
            json.dumps(scan["record"], separators=(",", ":"), sort_keys=True).encode()
        )
        assert rec.reason.value == case["reason"]
        assert rec.station == "halte-test-01"
        seqs.append(rec.seq)
        expected = "accepted_in" if case["reason"] == "ok" else "rejected"
        assert scan["signal"] == expected
        assert scan["buzzer_on"] is True  # the first step of every pattern beeps
    assert seqs == list(range(1, len(seqs) + 1))
    (again,) = by["again"]["scans"]  # type: ignore[misc]
    assert again["record"]["reason"] == "duplicate_window"
    assert again["signal"] == "duplicate"
    assert by["garbage"]["scans"] == []  # control bytes only: no scan
    assert by["noise_counted"]["noise"] == 2
    (odd,) = by["not_utf8"]["scans"]  # type: ignore[misc]
    assert odd["record"]["reason"] == "not_a_badge" and odd["record"]["payload_len"] == 2
    assert by["overlong"]["scans"] == [] and by["overlong"]["overlong"] == 1
    assert by["split"]["first_half"] is None
    (split,) = by["split"]["scans"]  # type: ignore[misc]
    assert split["record"]["reason"] == "duplicate_window"  # one code from two reads
    (burst,) = by["no_terminator"]["scans"]  # type: ignore[misc]
    assert burst["record"]["reason"] == "not_a_badge"  # the idle gap ended it
    full = by["full"]
    assert full["scan"]["record"] is None  # type: ignore[index]
    assert full["scan"]["signal"] == "fault"  # type: ignore[index]
    assert full["faults"] == {"flash_full": 1}
    assert full["last_seq"] == full["signalled"]  # every signalled scan is stored, no more
    telemetry = by["telemetry"]["values"]
    parsed = wire.decode(json.dumps(telemetry).encode(), wire.Telemetry)
    assert parsed.backlog == full["last_seq"]
    assert telemetry["faults"] == {"flash_full": 1}  # type: ignore[index]


def test_the_firmware_signs_the_batch_vector_byte_for_byte() -> None:
    recs = json.loads(RECORD_VECTORS.read_text())
    assert run()["batch"]["payload"] == recs["batch"]
