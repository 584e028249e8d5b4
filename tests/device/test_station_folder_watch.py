"""A station whose camera is a folder: watched (a kiosk fed by another program) it scans each
image put there, for as long as it runs, and an empty folder is no fault; replayed (tests,
recordings) it reads the folder once and keeps delivering, without tripping the watchdog."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from presensi.device import config as station_config
from presensi.device import station as station_module
from presensi.device.parts import build_camera
from presensi.device.station import Parts, Station
from presensi.device.testbed import StationFolder, create
from presensi.hardware.camera_sim import Condition, render_badge_frame
from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol.reasons import Outcome
from tests.device.test_station import journal_records


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def folder_station(tmp_path: Path, *, watch: bool, broker: str = "") -> tuple[StationFolder, Path]:
    bed = create(tmp_path / "st", employees=3, broker=broker)
    frames = tmp_path / "frames"
    frames.mkdir()
    text = bed.config_path.read_text()
    camera = f'backend = "folder"\nsource = "{frames}"' + ("\nwatch = true" if watch else "")
    text = text.replace('backend = "sim"\nsource = "badges.txt"', camera)
    assert str(frames) in text
    bed.config_path.write_text(text)
    return bed, frames


def put_badge(frames: Path, name: str, token: str, seed: int) -> None:
    """As a feeding program should: write under a hidden name, then rename into place."""
    image = render_badge_frame(token, np.random.default_rng(seed), Condition.CLEAN)
    staging = frames / f".{name}.part.png"
    Image.fromarray(image).save(staging)
    staging.replace(frames / name)


def accepted(bed: StationFolder) -> list[str | None]:
    return [r.employee for r in journal_records(bed) if r.outcome is Outcome.ACCEPTED]


def test_a_watched_folder_is_scanned_as_images_come_and_stays_healthy_while_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(station_module, "WATCHDOG_STALL_S", 1.0)
    bed, frames = folder_station(tmp_path, watch=True)
    config = station_config.load(bed.config_path)
    indicator = RecordingIndicator()
    station = Station(
        config, Parts(indicator, build_camera(config), ZxingDecoder()), exit_when_source_ends=False
    )
    thread = threading.Thread(target=station.run)
    thread.start()
    try:
        time.sleep(2.0)  # an empty folder for twice the watchdog's stall time
        assert station.healthy()
        assert Signal.FAULT not in indicator.signals
        put_badge(frames, "001.png", bed.tokens[0], 1)
        assert wait_for(lambda: accepted(bed) == ["EMP-00000"])
        put_badge(frames, "002.png", bed.tokens[1], 2)
        assert wait_for(lambda: accepted(bed) == ["EMP-00000", "EMP-00001"])
        time.sleep(1.5)
        assert station.healthy() and thread.is_alive()  # still watching
    finally:
        station.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert Signal.FAULT not in indicator.signals
    assert indicator.signals.count(Signal.ACCEPTED_IN) == 2


def test_a_replayed_folder_ends_without_stalling_a_station_that_still_delivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(station_module, "WATCHDOG_STALL_S", 0.5)
    bed, frames = folder_station(tmp_path, watch=False, broker="mqtt://127.0.0.1:9")
    put_badge(frames, "001.png", bed.tokens[2], 3)
    config = station_config.load(bed.config_path)
    indicator = RecordingIndicator()
    station = Station(config, Parts(indicator, build_camera(config), ZxingDecoder()))
    thread = threading.Thread(target=station.run)
    thread.start()
    try:
        assert wait_for(lambda: station.source_ended)
        time.sleep(1.0)
        assert thread.is_alive()  # it has an uplink: it keeps delivering what it scanned
        assert station.healthy()  # a replay that has ended is not a stuck reader
    finally:
        station.stop()
        thread.join(10)
    assert accepted(bed) == ["EMP-00002"]


def test_station_run_keeps_watching_the_folder_until_stopped(tmp_path: Path) -> None:
    bed, frames = folder_station(tmp_path, watch=True)
    presensi = Path(sys.executable).with_name("presensi")
    process = subprocess.Popen(
        [str(presensi), "station", "run", "--config", str(bed.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert process.poll() is None  # an empty watched folder: no end, no exit
        put_badge(frames, "a.png", bed.tokens[1], 4)
        assert wait_for(lambda: bed.journal_path.exists() and accepted(bed) == ["EMP-00001"])
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    assert "failed" not in output, output
