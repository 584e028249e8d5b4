"""The station's time through its one seam (a TimeSource): wall clock steps while scanning, an
unsynced boot set by NTP, a reboot with the clock days behind. Decisions use the station's
trusted time; records keep what the clock said, flagged, for the hub to correct."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from presensi.device import config as station_config
from presensi.device.clock import ClockState, StationClock
from presensi.device.journal import Journal
from presensi.device.station import Parts, Station
from presensi.device.testbed import create, sample_draft
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol import badge
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import ScanRecord

HOUR = 3_600_000
WIB = dt.timezone(dt.timedelta(hours=7))
# 08:00 WIB of today, in ms: the testbed's badges are valid from a day before the real now,
# so a fixed date would make every scan "not yet valid" once that date is a day old
MORNING = int(
    dt.datetime.combine(dt.datetime.now(WIB).date(), dt.time(8, 0), tzinfo=WIB).timestamp() * 1000
)


@dataclass
class FakeTime:
    """A wall clock that can be stepped, a monotonic clock that only goes forward."""

    wall_ms: int
    mono_ms: int = 1_000_000
    synced: bool = True

    def wall_ns(self) -> int:
        return self.wall_ms * 1_000_000

    def mono_ns(self) -> int:
        return self.mono_ms * 1_000_000

    def state(self) -> ClockState:
        return ClockState(self.synced, None)

    def advance(self, ms: int) -> None:
        self.wall_ms += ms
        self.mono_ms += ms

    def step(self, ms: int) -> None:
        self.wall_ms += ms  # `date -s`: the wall clock jumps, the monotonic one does not


# -- the clock alone -----------------------------------------------------------------------------


def test_a_steady_synced_clock_is_trusted_as_it_is() -> None:
    fake = FakeTime(MORNING)
    clock = StationClock(fake)
    for _ in range(3):
        now = clock.now()
        assert (now.wall_ms, now.trusted_ms, now.clock.synced, now.step_ms) == (
            fake.wall_ms,
            fake.wall_ms,
            True,
            0,
        )
        fake.advance(60_000)
        fake.wall_ms += 5  # a little drift is not a step


def test_a_step_while_synced_is_flagged_and_the_trusted_time_goes_on() -> None:
    fake = FakeTime(MORNING)
    clock = StationClock(fake)
    clock.now()
    fake.advance(10 * 60_000)
    fake.step(-3 * HOUR)
    now = clock.now()
    assert now.wall_ms == MORNING + 10 * 60_000 - 3 * HOUR  # recorded as the clock said
    assert now.trusted_ms == MORNING + 10 * 60_000  # decided by the trusted time
    assert (now.clock.synced, now.step_ms, clock.steps) == (False, -3 * HOUR, 1)
    fake.step(3 * HOUR)  # put right again
    fake.advance(1000)
    again = clock.now()
    assert (again.clock.synced, again.step_ms, again.trusted_ms) == (True, 0, again.wall_ms)


def test_ntp_setting_an_unsynced_clock_is_trusted_from_then_on() -> None:
    fake = FakeTime(MORNING - 40 * 24 * HOUR, synced=False)  # booted with a stale clock
    clock = StationClock(fake)
    early = clock.now()
    assert (early.clock.synced, early.trusted_ms) == (False, early.wall_ms)
    fake.step(40 * 24 * HOUR)  # NTP sets it
    fake.synced = True
    fake.advance(1000)
    later = clock.now()
    assert (later.clock.synced, later.step_ms, later.trusted_ms) == (True, 0, later.wall_ms)


def test_a_clock_behind_the_journals_newest_synced_scan_is_not_trusted() -> None:
    fake = FakeTime(MORNING - 2 * 24 * HOUR, synced=False)  # rebooted two days behind
    clock = StationClock(fake, floor_ms=MORNING)
    now = clock.now()
    assert (now.clock.synced, now.trusted_ms) == (False, MORNING)
    fake.synced = True  # even if something claims the clock is synced
    assert clock.now().clock.synced is False


# -- the station on that clock ------------------------------------------------------------------


class Bench:
    def __init__(self, tmp_path: Path, fake: FakeTime, *, mode: str = "auto") -> None:
        self.bed = create(tmp_path / "st", employees=3, mode=mode)
        self.fake = fake
        self.station = self._start()

    def _start(self) -> Station:
        config = station_config.load(self.bed.config_path)
        return Station(config, Parts(RecordingIndicator()), time_source=self.fake)

    def restart(self) -> None:
        self.station.close()
        self.station = self._start()

    def scan(self, text: str) -> ScanRecord:
        self.fake.advance(2000)
        [record] = self.station.loop.handle([text], self.fake.mono_ns())
        return record

    def close(self) -> None:
        self.station.close()


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    b = Bench(tmp_path, FakeTime(MORNING))
    yield b  # type: ignore[misc]
    b.close()


def test_a_clock_stepped_back_does_not_turn_a_departure_into_an_arrival(bench: Bench) -> None:
    token = bench.bed.tokens[0]
    arrival = bench.scan(token)
    bench.fake.advance(9 * HOUR)  # 17:00 WIB
    bench.fake.step(-3 * HOUR)  # the clock is set back three hours
    departure = bench.scan(token)
    assert (arrival.direction, departure.direction) == ("in", "out")
    assert arrival.clock_synced and not departure.clock_synced  # flagged for the hub
    assert departure.wall_ms < arrival.wall_ms + 9 * HOUR  # what the clock said, kept


def test_a_jump_forward_and_back_gives_no_second_arrival(bench: Bench) -> None:
    token = bench.bed.tokens[1]
    first = bench.scan(token)
    bench.fake.advance(HOUR)
    bench.fake.step(12 * HOUR)  # the wall clock says tomorrow
    jumped = bench.scan(token)
    bench.fake.step(-12 * HOUR)
    bench.fake.advance(HOUR)
    back = bench.scan(token)
    assert [r.direction for r in (first, jumped, back)] == ["in", "out", "out"]
    assert [r.clock_synced for r in (first, jumped, back)] == [True, False, True]


def test_an_expired_badge_is_refused_on_a_station_rebooted_days_behind(tmp_path: Path) -> None:
    fake = FakeTime(MORNING)
    bench = Bench(tmp_path, fake)
    try:
        bench.scan(bench.bed.tokens[0])  # a synced scan: the journal knows it is this morning
        expired = badge.issue(
            bench.bed.org,
            "EMP-00777",
            777,
            (MORNING - 30 * 24 * HOUR) // 1000,
            (MORNING - 24 * HOUR) // 1000,
        ).to_text()
        fake.wall_ms -= 2 * 24 * HOUR  # power cut, no RTC, no network: two days behind
        fake.mono_ms = 5_000  # a new boot
        fake.synced = False
        bench.restart()
        record = bench.scan(expired)
        assert (record.outcome, record.reason) == (Outcome.REJECTED, Reason.EXPIRED)
        assert not record.clock_synced
    finally:
        bench.close()


def test_the_floor_comes_from_the_newest_synced_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    journal.append(sample_draft(1, wall_ms=MORNING, clock_synced=True))
    journal.append(sample_draft(2, wall_ms=MORNING + 10 * HOUR, clock_synced=False))
    assert journal.newest_wall_ms() == MORNING
    journal.close()
