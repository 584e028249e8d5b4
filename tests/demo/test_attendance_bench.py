"""`presensi hub bench-attendance` runs end to end on a small SQLite store and reports figures
that agree with the store it filled."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from presensi.protocol.cli import main


def test_the_attendance_bench_measures_a_small_store() -> None:
    args = ["hub", "bench-attendance", "--engine", "sqlite", "--employees", "60", "--scans", "6000"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])["sqlite"]
    # 60 employees, 50 days back, about 96 % present: the month's days (and the day either
    # side that the marks reach) are derived, each mark done
    assert 60 * 25 <= figures["days_derived"] <= 60 * 36
    assert figures["marks_done"] == figures["marks"] > 0
    assert figures["recap_s"]["max"] > 0 and figures["daily_ms"]["p95"] > 0
    for kind in ("live", "catchup", "catchup_200"):
        cost = figures[f"ingest_cost_{kind}"]
        assert cost["ingest_s"] > 0 and cost["derive_s"] > 0 and cost["days_derived"] > 0
        assert cost["ratio"] == pytest.approx(cost["derive_s"] / cost["ingest_s"], abs=0.05)
    # the station's batches: 200 records each, 20 a transaction
    assert figures["ingest_cost_catchup_200"]["records_per_transaction"] == 4000
