"""A station's disk goes wrong under it: the journal's folder is read-only when it starts, or
the disk fills while the hub's acks arrive. Real files on a real (tmpfs) file system, a real
broker and hub. The station never beeps success for a scan it could not store, none of its
threads dies, and once the disk is back everything it stored reaches the hub exactly once."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.device import config as station_config
from presensi.device import station as station_module
from presensi.device.journal import Journal
from presensi.device.station import Parts, Station
from presensi.device.testbed import create
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.service import Hub
from presensi.hub.store import StationInfo, open_store
from presensi.protocol.keys import load_signing_key, raw_public
from presensi.protocol.record import ScanRecord
from tests.device.conftest import remount, tmpfs

FAST = {"batch_size": 20, "resend_s": 1, "telemetry_s": 0.5}


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


class Running:
    """A station scanning in a thread of its own; scans are injected into its scan loop."""

    def __init__(self, config_path: Path, tokens: list[str]) -> None:
        self.indicator = RecordingIndicator()
        config = station_config.load(config_path)
        self.station = Station(config, Parts(self.indicator), exit_when_source_ends=False)
        self.tokens = tokens
        self.recorded: list[ScanRecord] = []
        self._n = 0
        self._clock = time.monotonic_ns()
        self._thread = threading.Thread(target=self.station.run, daemon=True)
        self._thread.start()

    def scan(self) -> list[ScanRecord]:
        self._clock += 2 * 10**9
        text = self.tokens[self._n % len(self.tokens)]
        self._n += 1
        stored = self.station.loop.handle([text], self._clock)
        self.recorded += stored
        return stored

    def last_signal(self) -> Signal:
        return self.indicator.signals[-1]

    def stop(self) -> None:
        self.station.stop()
        self._thread.join(10)


@pytest.fixture
def fast_journal_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(station_module, "JOURNAL_RETRY_S", 0.2)


def test_a_read_only_journal_folder_shows_the_fault_and_recovers(
    tmp_path: Path, fast_journal_retry: None, caplog: pytest.LogCaptureFixture
) -> None:
    with tmpfs(tmp_path / "card") as card:
        bed = create(card / "st", employees=5)
        Journal(bed.journal_path, "st-test-01", min_free_bytes=1).close()
        remount(card, "ro")
        running = Running(bed.config_path, bed.tokens)
        try:
            assert running.station.loop.journal is None
            assert running.scan() == []
            assert running.last_signal() is Signal.FAULT  # never a success beep
            assert "cannot open the journal for writing" in caplog.text
            assert not list((card / "st").glob("journal.db.corrupt*"))  # nothing renamed
            remount(card, "rw")
            assert wait_for(lambda: running.station.loop.journal is not None)
            [record] = running.scan()
            assert record.seq == 1 and running.last_signal() is Signal.ACCEPTED_IN
        finally:
            running.stop()


def fill(folder: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_when_acks_arrive_never_stops_the_uplink(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    with tmpfs(tmp_path / "card", size="3m") as card:
        bed = create(card / "st", employees=5, broker=mosquitto.url, window_s=0, uplink=FAST)
        store = open_store(store_url)
        store.migrate()
        key = load_signing_key(bed.folder / "station.key")
        store.register_station(StationInfo("st-test-01", raw_public(key.public), "pool-test"))
        hub = Hub(store_url, mosquitto.url)
        hub.start()
        running = Running(bed.config_path, bed.tokens)
        filler: Path | None = None
        try:
            for _ in range(5):
                running.scan()
            assert wait_for(running.station.delivered)
            hub.close()  # the hub is away while five more scans are stored
            for _ in range(5):
                running.scan()
            filler = fill(card)
            assert running.scan() == []  # the disk is full: the fault, never a success
            assert running.last_signal() is Signal.FAULT
            hub = Hub(store_url, mosquitto.url)
            hub.start()
            assert wait_for(lambda: "cannot record the hub's ack" in caplog.text)
            uplink = running.station.uplink
            assert uplink is not None
            time.sleep(1.5)  # it keeps trying, and stays alive doing so
            assert uplink.alive() and running.station.healthy()
            assert not running.station.delivered()
            filler.unlink()
            filler = None
            assert wait_for(running.station.delivered)
            for _ in range(3):
                assert running.scan(), "space is back: scans are stored again"
            assert wait_for(running.station.delivered)
            held = store.scans("st-test-01")
            assert sorted(r.scan_id for r in held) == sorted(r.scan_id for r in running.recorded)
            assert len(held) == 13
        finally:
            if filler is not None:
                filler.unlink()
            running.stop()
            hub.close()
            store.close()


def test_an_uplink_that_died_stops_the_watchdog(tmp_path: Path, mosquitto: Mosquitto) -> None:
    bed = create(tmp_path / "st", employees=2, broker=mosquitto.url, uplink=FAST)
    running = Running(bed.config_path, bed.tokens)
    try:
        uplink = running.station.uplink
        assert uplink is not None and wait_for(uplink.alive)
        assert running.station.healthy()
        uplink.stop()  # as if its thread had crashed
        assert not uplink.alive()
        assert not running.station.healthy()
    finally:
        running.stop()


def test_errno_of_a_full_tmpfs_is_enospc(tmp_path: Path) -> None:
    """The fill() helper above really fills the file system (guards the disk-full test)."""
    with tmpfs(tmp_path / "small", size="1m") as small:
        fill(small)
        fd = os.open(small / "more", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError) as failed:
                os.write(fd, b"x" * 8192)
        finally:
            os.close(fd)
        assert failed.value.errno == errno.ENOSPC
