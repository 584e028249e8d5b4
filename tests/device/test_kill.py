from __future__ import annotations

from pathlib import Path

import pytest

from presensi.device.killtest import run_kills


@pytest.mark.slow
def test_200_kill9_lose_no_signalled_scan(tmp_path: Path) -> None:
    report = run_kills(tmp_path / "kill", 200, seed=7)
    assert report.failures == [] and report.lost == 0
    assert report.runs == 200
    assert report.signalled > 200  # the kills really hit a scanning station


def test_kill_harness_detects_a_lost_scan(tmp_path: Path) -> None:
    """The harness must be able to fail: delete a record behind its back."""
    import sqlite3

    report = run_kills(tmp_path / "kill", 2, seed=1)
    assert report.ok and report.stored > 0
    db = sqlite3.connect(tmp_path / "kill" / "journal.db")
    db.execute("DELETE FROM records WHERE seq = 1")
    db.commit()
    db.close()
    again = run_kills(tmp_path / "kill", 1, seed=2)
    assert any("sequence gap" in f for f in again.failures)
