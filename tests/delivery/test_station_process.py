"""A real `presensi station run` process, killed with SIGKILL while it publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from presensi.demo.mosquitto import Mosquitto
from presensi.device.journal import Journal
from presensi.device.testbed import create
from presensi.hub.service import Hub
from presensi.hub.store import StationInfo, open_store
from presensi.protocol.keys import load_signing_key, raw_public


def start_station(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "presensi.device", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def journal_state(path: Path) -> tuple[int, int]:
    j = Journal(path, "st-proc", min_free_bytes=0, check_integrity=False)
    try:
        return j.newest_seq(), j.acked_upto
    finally:
        j.close()


def test_station_killed_mid_publish_and_restarted(tmp_path: Path, mosquitto: Mosquitto) -> None:
    bed = create(
        tmp_path / "st",
        station="st-proc",
        employees=40,
        broker=mosquitto.url,
        window_s=0,
        uplink={"batch_size": 1, "window": 2, "resend_s": 2},
    )
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(store_url)
    store.migrate()
    store.register_station(
        StationInfo(
            "st-proc", raw_public(load_signing_key(bed.folder / "station.key").public), "pool"
        )
    )
    store.close()
    hub = Hub(store_url, mosquitto.url)
    hub.start()
    kills = 0
    try:
        for _ in range(4):  # kill while records are still being published one batch at a time
            proc = start_station(bed.config_path)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                last, acked = (
                    journal_state(bed.journal_path) if bed.journal_path.exists() else (0, 0)
                )
                if (last > acked > 0) or last >= 12 * (kills + 1):
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc = start_station(bed.config_path)  # plays its badge script to the end, then idles
        deadline = time.monotonic() + 90
        settled = 0
        while time.monotonic() < deadline and settled < 30:
            before = journal_state(bed.journal_path)
            time.sleep(0.1)
            last, acked = journal_state(bed.journal_path)
            settled = settled + 1 if (last, acked) == before and last == acked else 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        hub.close()
    last, acked = journal_state(bed.journal_path)
    assert last > 0 and acked == last
    store = open_store(store_url)
    try:
        records = store.scans("st-proc")
        assert [r.seq for r in records] == list(range(1, last + 1))
        assert len({r.scan_id for r in records}) == last
    finally:
        store.close()
