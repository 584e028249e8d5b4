"""Attendance derived by a worker of its own: `presensi hub run --no-derive` leaves the marks,
`presensi hub attendance follow` (a real process, on a real SQLite store) derives them as they
come and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from presensi.hub.ingest import Ingest
from presensi.hub.store import SqlStore, open_store
from presensi.protocol.wire import batch_of

from .test_days import MANGKANG, prepared, results


def test_a_hub_run_with_no_derive_leaves_the_marks(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    assert isinstance(store, SqlStore)
    try:
        store.migrate()
        prepared(store)
        store.ingest([batch_of(MANGKANG[0].station, MANGKANG[0].journal, MANGKANG)], 1)
        waiting = store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0]
        Ingest(store, "mqtt://127.0.0.1:1", derive=False)._derive(time.monotonic())
        assert store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0] == waiting > 0
        Ingest(store, "mqtt://127.0.0.1:1")._derive(time.monotonic())
        assert store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0] == 0
    finally:
        store.close()


def test_follow_derives_what_ingest_marks_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    presensi = str(Path(sys.executable).with_name("presensi"))
    follower = subprocess.Popen(
        [presensi, "hub", "attendance", "follow", "--store", url, "--every", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        store.migrate()
        prepared(store)
        store.ingest([batch_of(MANGKANG[0].station, MANGKANG[0].journal, MANGKANG)], 1)
        deadline = time.monotonic() + 30
        while not results(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert results(store), "the follower derived nothing in 30 s"
        assert store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0] == 0
    finally:
        follower.send_signal(signal.SIGTERM)
        out, _ = follower.communicate(timeout=30)
        store.close()
    assert follower.returncode == 0, out
    assert "deriving attendance as it is marked in" in out
    assert "stopped: " in out and " marks derived" in out
    assert "stopped: 0 marks" not in out
