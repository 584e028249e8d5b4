"""`presensi hub bench --quick --json` runs end to end: real Mosquitto, the hub in its own
process, PostgreSQL if it can be started. Checks what was measured, never how fast."""

from __future__ import annotations

import json

import pytest

from presensi.demo.hub_bench import QUICK, run_bench
from presensi.demo.mosquitto import mosquitto_available

FIGURES = (
    "ingest_scans_per_s_sqlite",
    "ingest_scans_per_s_postgres",
    "bare_insert_rows_per_s",
    "drain_seconds_42x10000",
    "scan_to_signal_ms_p99_while_draining",
)


@pytest.mark.slow
@pytest.mark.mosquitto
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_quick_bench_measures_every_figure_and_delivers_everything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not mosquitto_available():
        pytest.fail("no mosquitto binary: run scripts/bootstrap (apt-get install mosquitto)")

    results = run_bench(as_json=True, quick=True)

    assert json.loads(capsys.readouterr().out) == results  # one JSON object on stdout
    for key in FIGURES:
        assert key in results, key
    assert results["quick"] is True

    # exactly once, everywhere: every station fully acked, the store holding every record
    assert results["all_acked"] is True
    assert results["ingest_all_acked_sqlite"] is True
    assert results["drain_all_acked"] is True
    assert results["scan_to_signal_all_acked"] is True
    assert results["ingest_records_sqlite"] == QUICK.ingest_stations * QUICK.ingest_records
    assert results["ingest_duplicates_sqlite"] == 0

    assert results["ingest_scans_per_s_sqlite"] > 0
    assert results["bare_insert_rows_per_s"] > 0
    assert results["ingest_to_bare_ratio_sqlite"] > 0
    assert results["drain_seconds_42x10000"] > 0
    assert results["drain_stations"] == 42
    assert results["drain_records_per_station"] == QUICK.drain_records

    # PostgreSQL: a figure, or null with the reason it could not be had
    if results["ingest_scans_per_s_postgres"] is None:
        assert results["ingest_postgres_error"]
    else:
        assert results["ingest_scans_per_s_postgres"] > 0
        assert results["ingest_all_acked_postgres"] is True
        assert results["ingest_records_postgres"] == results["ingest_records_sqlite"]

    assert results["scan_to_signal_samples_while_draining"] > 0
    assert results["scan_to_signal_ms_p99_while_draining"] > 0
    assert results["scan_to_signal_samples_no_backlog"] == QUICK.scans
    assert results["scan_to_signal_ms_p99_no_backlog"] > 0

    # what deriving attendance adds to the hub's ingest: every work day derived (60 employees,
    # 3 days back: the work days among them), the derivation's CPU seconds a part of the hub's
    attendance = results["attendance_ingest_cost_sqlite"]
    employees, days_back, _ = QUICK.attendance
    assert attendance["scans"] == 2 * attendance["days_derived"]
    assert 0 < attendance["days_derived"] <= employees * days_back
    spent = zip(attendance["derive_cpu_s"], attendance["hub_cpu_s_with"], strict=True)
    assert all(0 < derive < hub for derive, hub in spent)
    assert attendance["ratio"] > 0
