"""Phone codes end to end on the station: simulated phone-screen frames -> the station's real
decoder (zxing-cpp) -> verify -> decide -> journal -> signal, at the real time."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from presensi.device.clock import Clock, StationClock, SystemTime
from presensi.device.config import StationSection
from presensi.device.decide import Decider
from presensi.device.journal import Journal
from presensi.device.scanloop import ScanLoop
from presensi.hardware.camera_sim import Condition, render_badge_frame
from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol import phone
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Outcome, Reason

ORG = SigningKey.from_seed(b"\x05" * 32)
DEVICE = phone.DeviceKey.from_scalar(0xCAFE)
CERT = phone.certify(ORG, "E1", 301, DEVICE.public_point, 0, 2**32 - 1)
REVOKED = phone.certify(ORG, "E2", 302, DEVICE.public_point, 0, 2**32 - 1)
FRAMES_PER_CODE = 6  # the phone held up: a station sees many frames of it


class ListCamera:
    name = "list"

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = list(frames)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self) -> np.ndarray | None:
        return self.frames.pop(0) if self.frames else None


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[ScanLoop]:
    journal = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    station = StationSection(id="st-1", location="pool-a", duplicate_window_s=0)
    decider = Decider(
        station, KeyRing.of([ORG.public]), Revocations(1, frozenset({302})), config_version=1
    )
    yield ScanLoop(
        journal, decider, RecordingIndicator(), StationClock(SystemTime(Clock("synced")))
    )
    journal.close()


def frames_of(texts: list[str], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    condition = Condition.PHONE_DARK
    return [render_badge_frame(t, rng, condition) for t in texts for _ in range(FRAMES_PER_CODE)]


def test_phone_codes_through_the_stations_decoder(loop: ScanLoop) -> None:
    now = int(time.time())
    stranger = phone.DeviceKey.from_scalar(0xBEEF)
    forged = dataclasses.replace(CERT, employee="E9")  # the org signature no longer matches
    texts = [
        DEVICE.code_at(CERT, now).to_text(),  # the phone, now
        DEVICE.code_at(CERT, now - 60).to_text(),  # a screenshot a minute old
        stranger.code_at(CERT, now).to_text(),  # another phone with E1's certificate
        DEVICE.code_at(forged, now).to_text(),
        DEVICE.code_at(REVOKED, now).to_text(),
    ]
    loop.scan_frames(ListCamera(frames_of(texts, 7)), ZxingDecoder(), threading.Event())
    records = list(loop.journal.records())
    got = [(r.employee, r.outcome, r.reason) for r in records]
    assert got == [
        ("E1", Outcome.ACCEPTED, Reason.OK),
        ("E1", Outcome.REJECTED, Reason.PHONE_EXPIRED_STEP),
        ("E1", Outcome.REJECTED, Reason.PHONE_BAD_DEVICE_SIGNATURE),
        ("E9", Outcome.REJECTED, Reason.BAD_SIGNATURE),
        ("E2", Outcome.REJECTED, Reason.REVOKED),
    ]
    assert [r.serial for r in records] == [301, 301, 301, 301, 302]
    # the first code shown again once the debouncer has let it go (out of sight for 2 s)
    again = loop.handle([texts[0]], time.monotonic_ns() + 2_000_000_000)
    assert [(r.outcome, r.reason) for r in again] == [(Outcome.DUPLICATE, Reason.PHONE_REPLAYED)]
    indicator = loop.indicator
    assert isinstance(indicator, RecordingIndicator)
    assert indicator.signals == [
        Signal.ACCEPTED_IN,
        *[Signal.REJECTED] * 4,
        Signal.DUPLICATE,  # the replay
    ]
