"""The hub's SQLite store on a file system that forgets every write not synced
(tests/powerloss/lazyfs.py), its power cut again and again while a station delivers: an ack
is a promise, so whatever the station was acked before a cut is in the store after it, the
store stays whole, and in the end every record is there exactly once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.device.config import UplinkSection
from presensi.device.journal import Journal
from presensi.device.testbed import fill_journal
from presensi.device.uplink import Uplink
from presensi.hub.store import StationInfo, open_store
from presensi.protocol.keys import SigningKey, raw_public
from tests.powerloss.mount import LazyMount

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]

STATION = "st-pool-mangkang-01"
RECORDS = 4000
CUTS = 30


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[LazyMount]:
    mount = LazyMount(tmp_path / "disk", tmp_path / "mnt").mount()
    try:
        yield mount
    finally:
        mount.unmount()


def start_hub(store_url: str, broker: str) -> subprocess.Popen[bytes]:
    presensi = Path(sys.executable).parent / "presensi"
    return subprocess.Popen(
        [str(presensi), "hub", "run", "--store", store_url, "--broker", broker],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def acked(journal_path: Path) -> int:
    journal = Journal(journal_path, STATION, min_free_bytes=0, check_integrity=False)
    try:
        return journal.acked_upto
    finally:
        journal.close()


def test_an_ack_survives_any_power_cut_of_the_hub(
    tmp_path: Path, disk: LazyMount, mosquitto: Mosquitto
) -> None:
    store_url = f"sqlite:///{disk.mountpoint / 'hub.db'}"
    key = SigningKey.generate()
    store = open_store(store_url)
    store.migrate()
    store.register_station(StationInfo(STATION, raw_public(key.public), "pool-mangkang"))
    store.close()
    journal_path = tmp_path / "station" / "journal.db"
    fill_journal(journal_path, STATION, RECORDS)
    settings = UplinkSection(
        broker=mosquitto.url, batch_size=50, window=2, resend_s=1, reconnect_max_s=0.5
    )
    uplink = Uplink(settings, journal_path, STATION, key)
    uplink.start()
    rng = random.Random(5)
    promises: list[tuple[int, int]] = []  # (acked before the cut, committed after it)
    try:
        for _ in range(CUTS):
            hub = start_hub(store_url, mosquitto.url)
            time.sleep(rng.uniform(0.8, 2.5))  # the hub's start takes ~0.7 s of it
            disk.cut()  # the power goes: the disk loses what was not synced, the hub dies
            hub.send_signal(signal.SIGKILL)
            hub.wait()
            time.sleep(0.1)  # an ack already on its way lands
            before = acked(journal_path)
            disk.restore()
            db = sqlite3.connect(disk.mountpoint / "hub.db")
            try:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            finally:
                db.close()
            store = open_store(store_url)
            try:
                promises.append((before, store.committed_upto(STATION)))
            finally:
                store.close()
        hub = start_hub(store_url, mosquitto.url)
        try:
            deadline = time.monotonic() + 120
            while acked(journal_path) < RECORDS and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            hub.send_signal(signal.SIGTERM)
            hub.wait(30)
    finally:
        uplink.stop()
    broken = [(a, c) for a, c in promises if c < a]
    assert not broken, f"acked records missing after a cut (acked, committed): {broken}"
    assert promises[-1][0] > 0 and any(a < RECORDS for a, _ in promises)  # cuts hit delivery
    assert acked(journal_path) == RECORDS
    store = open_store(store_url)
    try:
        assert store.count_scans(STATION) == RECORDS
        held = store.scans(STATION)
        assert [r.seq for r in held] == list(range(1, RECORDS + 1))
        assert len({r.scan_id for r in held}) == RECORDS
    finally:
        store.close()
