"""The station end to end: real config, real SQLite journal, replay or simulated camera,
gpiozero mock pins, a serial scanner over a pseudo-terminal."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory
from PIL import Image

from presensi.device import config as station_config
from presensi.device.station import Parts, Station
from presensi.device.testbed import StationFolder, create
from presensi.hardware.camera_folder import FolderCamera
from presensi.hardware.camera_sim import (
    Condition,
    Presentation,
    SimulatedCamera,
    render_badge_frame,
)
from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hardware.indicator import PATTERNS, Signal
from presensi.hardware.indicator_gpio import GpioIndicator
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol.keys import Revocations
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import ScanRecord


def station_for(bed: StationFolder, parts: Parts, **kw: object) -> Station:
    return Station(station_config.load(bed.config_path), parts, **kw)  # type: ignore[arg-type]


def run_until_done(station: Station, timeout: float = 30) -> None:
    thread = threading.Thread(target=station.run)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "station did not stop"


def test_replayed_images_become_journal_records_and_pin_patterns(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=4)
    rng = np.random.default_rng(1)
    frames = tmp_path / "frames"
    frames.mkdir()
    shown = [bed.tokens[0], None, bed.tokens[1], None, "https://example.com", None, bed.tokens[0]]
    for i, text in enumerate(shown):
        frame = (
            render_badge_frame(text, rng, Condition.CLEAN)
            if text
            else np.full((480, 640), 90, np.uint8)
        )
        Image.fromarray(frame).save(frames / f"{i:03d}.png")
    factory = MockFactory()
    indicator = GpioIndicator(17, 27, 22, pin_factory=factory, time_scale=0.01)
    station = station_for(bed, Parts(indicator, FolderCamera(frames, fps=3), ZxingDecoder()))
    run_until_done(station)
    indicator.wait_idle(5)
    stored = list(journal_records(bed))
    assert [(r.employee, r.outcome, r.reason) for r in stored] == [
        ("EMP-00000", Outcome.ACCEPTED, Reason.OK),
        ("EMP-00001", Outcome.ACCEPTED, Reason.OK),
        (None, Outcome.REJECTED, Reason.NOT_A_BADGE),
        ("EMP-00000", Outcome.DUPLICATE, Reason.DUPLICATE_WINDOW),
    ]
    # the buzzer pin beeped exactly as the patterns say, in order
    beeps = [
        s
        for sig in (Signal.ACCEPTED_IN, Signal.ACCEPTED_IN, Signal.REJECTED, Signal.DUPLICATE)
        for s in PATTERNS[sig]
        if s.buzzer
    ]
    buzzer_on = [st.state for st in factory.pin(22).states].count(True)
    assert buzzer_on == len(beeps)


def journal_records(bed: StationFolder) -> Iterator[ScanRecord]:
    from presensi.device.journal import Journal

    journal = Journal(bed.journal_path, "st-test-01", min_free_bytes=1)
    try:
        yield from journal.records()
    finally:
        journal.close()


def test_camera_failure_shows_fault_and_is_retried_without_restart(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=3)
    script = [
        Presentation(bed.tokens[0], 4, Condition.CLEAN),
        Presentation(None, 6),
        Presentation(bed.tokens[1], 4, Condition.CLEAN),
        Presentation(bed.tokens[2], 4, Condition.CLEAN),
    ]
    camera = SimulatedCamera(script, fail_after=8, fail_times=2)
    indicator = RecordingIndicator()
    station = station_for(bed, Parts(indicator, camera, ZxingDecoder()))
    thread = threading.Thread(target=station.run)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and indicator.signals.count(Signal.ACCEPTED_IN) < 3:
        time.sleep(0.05)
    station.stop()
    thread.join(10)
    signals = indicator.signals
    assert signals.count(Signal.ACCEPTED_IN) == 3
    assert signals.count(Signal.FAULT) == 3  # the read failure, then two failed reopens
    assert signals.index(Signal.FAULT) > signals.index(Signal.ACCEPTED_IN)
    assert camera.open_attempts >= 4


def test_corrupt_journal_at_start_is_moved_aside_with_a_fault(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=1)
    bed.journal_path.write_bytes(os.urandom(4096))
    indicator = RecordingIndicator()
    station = station_for(bed, Parts(indicator))
    station.close()
    assert indicator.signals == [Signal.FAULT]
    assert [
        p.name.startswith("journal.db.corrupt-") for p in bed.folder.glob("journal.db.corrupt-*")
    ] == [True]


def test_serial_scanner_codes_are_journaled(tmp_path: Path) -> None:
    from presensi.hardware.scanner_serial import SerialScanner

    bed = create(tmp_path / "st", employees=2)
    master, slave = os.openpty()
    try:
        scanner = SerialScanner(os.ttyname(slave), 9600)
        indicator = RecordingIndicator()
        station = station_for(bed, Parts(indicator, scanner=scanner), exit_when_source_ends=False)
        thread = threading.Thread(target=station.run)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not scanner.is_open and time.monotonic() < deadline:  # pyserial flushes on open
                time.sleep(0.01)
            lines = [bed.tokens[0].encode(), b"garbage\xff", bed.tokens[1].encode()]
            os.write(master, b"".join(line + b"\r\n" for line in lines))
            assert indicator.wait_for(4, 10)
        finally:
            station.stop()
            thread.join(10)
    finally:
        os.close(master)
        os.close(slave)
    assert indicator.signals == [
        Signal.READY,
        Signal.ACCEPTED_IN,
        Signal.REJECTED,
        Signal.ACCEPTED_IN,
    ]
    assert [r.reason for r in journal_records(bed)] == [Reason.OK, Reason.NOT_A_BADGE, Reason.OK]


def test_a_newer_revocation_list_applies_while_running(tmp_path: Path) -> None:
    bed = create(tmp_path / "st", employees=2)
    indicator = RecordingIndicator()
    station = station_for(bed, Parts(indicator))
    station.loop.handle([bed.tokens[0]], time.monotonic_ns())
    path = bed.folder / "revocations.json"
    path.write_text(json.dumps(Revocations(2, frozenset({1})).to_json()))  # serial of EMP-00000
    os.utime(path, (time.time() + 5, time.time() + 5))
    station._reload_revocations()
    station.loop.handle([bed.tokens[0]], time.monotonic_ns() + 10**10)
    # an older or broken list is ignored
    path.write_text("{not json")
    os.utime(path, (time.time() + 10, time.time() + 10))
    station._reload_revocations()
    assert station.decider.revoked.version == 2
    station.close()
    assert [r.reason for r in journal_records(bed)] == [Reason.OK, Reason.REVOKED]


def test_systemd_notify_ready_watchdog_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = create(tmp_path / "st", employees=2, fps=20)
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", sock_path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    camera = SimulatedCamera([Presentation(None, 10_000)], fps=20)
    station = station_for(bed, Parts(RecordingIndicator(), camera, ZxingDecoder()))
    thread = threading.Thread(target=station.run)
    thread.start()
    messages = [sock.recv(100).decode() for _ in range(3)]
    station.stop()
    thread.join(10)
    messages.append(sock.recv(100).decode())
    while True:
        try:
            sock.settimeout(0.5)
            messages.append(sock.recv(100).decode())
        except TimeoutError:
            break
    sock.close()
    assert messages[0] == "READY=1" and messages[1:3] == ["WATCHDOG=1", "WATCHDOG=1"]
    assert messages[-1] == "STOPPING=1"


def test_fleet_lists_applied_later_live_in_the_state_folder(tmp_path: Path) -> None:
    """The config folder is read-only to the station service: lists the uplink applies go next to
    the journal, and win over the provisioned ones when their version is higher."""
    from presensi.protocol import badge
    from presensi.protocol.keys import KeyRing, SigningKey

    bed = create(tmp_path / "etc", employees=2)
    text = bed.config_path.read_text().replace(
        "[journal]\n", '[journal]\npath = "../state/journal.db"\n'
    )
    bed.config_path.write_text(text)
    state = tmp_path / "state"
    state.mkdir()
    new_key = SigningKey.generate()
    ring = KeyRing.of([bed.org.public, new_key.public]).to_json()
    (state / "org-keys.json").write_text(json.dumps({**ring, "version": 2}))
    (state / "revocations.json").write_text(json.dumps(Revocations(4, frozenset({1})).to_json()))
    station = station_for(bed, Parts(RecordingIndicator()))
    try:
        new_badge = badge.issue(new_key, "EMP-NEW", 77, 0, 2**32 - 1).to_text()
        first, second = (
            station.loop.handle([t], time.monotonic_ns() + i * 10**10)[0]
            for i, t in enumerate([bed.tokens[0], new_badge])
        )
        assert first.reason is Reason.REVOKED and second.reason is Reason.OK
    finally:
        station.close()
