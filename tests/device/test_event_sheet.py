"""The event sheet on the station: decoded from the event topic (hostile payloads change nothing
and leave the uplink alive), kept in the state folder across a restart, and applied by the
station's trusted clock: event mode from opens_ms to ends_ms, the configured mode before and
after, by itself, with no network."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from presensi.device import config as station_config
from presensi.device.eventsheet import SHEET_FILE
from presensi.device.station import Parts, Station
from presensi.device.testbed import StationFolder, create
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.protocol import topics, wire
from presensi.protocol.reasons import Outcome
from presensi.protocol.record import ScanRecord
from tests.device.test_clock import MORNING, FakeTime

MINUTE = 60_000


def sheet(version: int = 1, event: str = "apel-senin", **changes: object) -> wire.EventSheet:
    base = wire.EventSheet(
        version=version,
        event=event,
        name="Apel pagi Senin",
        opens_ms=MORNING + 10 * MINUTE,
        starts_ms=MORNING + 30 * MINUTE,
        late_ms=MORNING + 45 * MINUTE,
        ends_ms=MORNING + 60 * MINUTE,
        participants=[wire.Participant("EMP-00000", "Ani", "Bappeda")],
    )
    return msgspec.structs.replace(base, **changes) if changes else base


@dataclass
class Message:
    topic: str
    payload: bytes


class Bench:
    """A station on a fake clock, with an uplink towards a broker that is not there."""

    def __init__(self, tmp_path: Path, *, mode: str = "in") -> None:
        self.bed: StationFolder = create(
            tmp_path / "st", employees=3, mode=mode, broker="mqtt://127.0.0.1:9"
        )
        self.fake = FakeTime(MORNING)
        self.station = self._start()

    def _start(self) -> Station:
        config = station_config.load(self.bed.config_path)
        return Station(config, Parts(RecordingIndicator()), time_source=self.fake)

    @property
    def kept(self) -> Path:
        return self.bed.folder / SHEET_FILE

    def receive(self, payload: bytes) -> None:
        """As paho delivers a message on the event topic (on the uplink's worker thread)."""
        uplink = self.station.uplink
        assert uplink is not None
        topic = topics.station_topic(self.station.config.station.id, "event")
        uplink._on_message(uplink._client, None, Message(topic, payload))

    def scan(self, token: str, at_ms: int) -> ScanRecord:
        self.fake.advance(at_ms - self.fake.wall_ms)
        [record] = self.station.loop.handle([token], self.fake.mono_ns())
        return record

    def restart(self) -> None:
        self.station.close()
        self.station = self._start()

    def close(self) -> None:
        self.station.close()


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    b = Bench(tmp_path)
    yield b  # type: ignore[misc]
    b.close()


def deep(levels: int) -> bytes:
    return b'{"x":' + b"[" * levels + b"]" * levels + b"}"


GOOD = json.loads(wire.encode(sheet()))
HOSTILE = {
    "oversize": wire.encode(sheet()) + b" " * (wire.MAX_EVENT_BYTES + 1),
    "bad window": json.dumps({**GOOD, "opens_ms": GOOD["ends_ms"] + 1}).encode(),
    "empty window": json.dumps({**GOOD, "starts_ms": GOOD["ends_ms"]}).encode(),
    "late outside": json.dumps({**GOOD, "late_ms": GOOD["ends_ms"] + 1}).encode(),
    "unknown field": json.dumps({**GOOD, "mode": "out"}).encode(),
    "nested": deep(100_000),
    "nested field": json.dumps({**GOOD, "participants": [[[["x"]]]]}).encode(),
    "invalid utf-8": wire.encode(sheet()).replace(b"Apel", b"Ap\xffl"),
    "not json": b"\x00\x01garbage",
    "a list": b"[1, 2, 3]",
    "bad event id": json.dumps({**GOOD, "event": "../../etc"}).encode(),
    "bad participant": json.dumps({**GOOD, "participants": [["<x>", "A", "B"]]}).encode(),
    "version 0": json.dumps({**GOOD, "version": 0}).encode(),
}


def test_hostile_payloads_change_nothing_and_the_uplink_lives(bench: Bench) -> None:
    assert bench.station.uplink is not None
    bench.station.uplink.start()  # its worker keeps trying the absent broker meanwhile
    for name, payload in HOSTILE.items():
        bench.receive(payload)  # logged and dropped: nothing leaves the callback
        assert bench.station.sheets.current is None, name
        assert bench.station.decider.sheet is None, name
        assert not bench.kept.exists(), name
    assert bench.station.uplink.alive()
    # a scan inside the hostile sheets' window is not for any event
    record = bench.scan(bench.bed.tokens[0], MORNING + 20 * MINUTE)
    assert (record.direction, record.event) == ("in", None)
    bench.receive(wire.encode(sheet()))  # and a good sheet after them still applies
    assert bench.station.decider.sheet == sheet()
    bench.station.uplink.stop()


def test_a_sheet_is_kept_atomically_newer_versions_replace_it_and_empty_withdraws(
    bench: Bench,
) -> None:
    bench.receive(wire.encode(sheet(2)))
    assert wire.decode(bench.kept.read_bytes(), wire.EventSheet) == sheet(2)
    assert bench.station.decider.sheet == sheet(2)
    bench.receive(wire.encode(sheet(1, event="rapat-lama")))  # older: ignored
    bench.receive(wire.encode(sheet(2, event="rapat-sama")))  # same version: ignored
    assert bench.station.decider.sheet == sheet(2)
    bench.receive(wire.encode(sheet(3, event="upacara")))
    assert bench.station.decider.sheet is not None
    assert bench.station.decider.sheet.event == "upacara"
    assert [p.name for p in bench.bed.folder.iterdir() if p.name.endswith(".tmp")] == []
    bench.receive(b"")  # the hub withdrew it
    assert bench.station.decider.sheet is None and not bench.kept.exists()
    record = bench.scan(bench.bed.tokens[0], MORNING + 20 * MINUTE)
    assert (record.direction, record.event) == ("in", None)


def test_the_mode_follows_the_sheet_window_by_the_trusted_clock_and_comes_back(
    bench: Bench,
) -> None:
    ani, budi = bench.bed.tokens[0], bench.bed.tokens[1]
    bench.receive(wire.encode(sheet()))
    before = bench.scan(ani, MORNING + 10 * MINUTE - 30_000)  # "in", 30 s before it opens
    assert (before.direction, before.event) == ("in", None)
    at_open = bench.scan(ani, MORNING + 10 * MINUTE)  # not a duplicate of the "in"
    assert (at_open.outcome, at_open.direction, at_open.event) == (
        Outcome.ACCEPTED,
        "event",
        "apel-senin",
    )
    again = bench.scan(ani, MORNING + 11 * MINUTE)  # the event's own duplicate window
    assert (again.outcome, again.direction, again.event) == (
        Outcome.DUPLICATE,
        "event",
        "apel-senin",
    )
    at_end = bench.scan(budi, MORNING + 60 * MINUTE)  # ends_ms is still inside
    assert (at_end.direction, at_end.event) == ("event", "apel-senin")
    after = bench.scan(budi, MORNING + 60 * MINUTE + 2000)  # back to "in" by itself
    assert (after.outcome, after.direction, after.event) == (Outcome.ACCEPTED, "in", None)
    # the wall clock stepped back into the window while synced: the trusted time decides
    bench.fake.step(-30 * MINUTE)
    stepped = bench.scan(ani, bench.fake.wall_ms + 5 * MINUTE)
    assert (stepped.direction, stepped.event) == ("in", None)
    assert stepped.wall_ms < MORNING + 60 * MINUTE  # recorded as the wall clock said


def test_auto_mode_does_not_take_an_apel_scan_for_the_days_arrival(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="auto")
    try:
        b.receive(wire.encode(sheet()))
        token = b.bed.tokens[0]
        assert b.scan(token, MORNING + 20 * MINUTE).direction == "event"
        came = b.scan(token, MORNING + 70 * MINUTE)  # at the office after the apel
        assert (came.direction, came.event) == ("in", None)
        assert b.scan(token, MORNING + 9 * 60 * MINUTE).direction == "out"
    finally:
        b.close()


def test_a_restart_without_network_keeps_the_sheet(bench: Bench) -> None:
    bench.receive(wire.encode(sheet(4)))
    bench.restart()  # no broker: nothing is re-sent
    assert bench.station.decider.sheet == sheet(4)
    record = bench.scan(bench.bed.tokens[2], MORNING + 40 * MINUTE)
    assert (record.direction, record.event) == ("event", "apel-senin")
    # a kept file that was damaged is ignored, not fatal
    bench.kept.write_bytes(b"{not json")
    bench.restart()
    assert bench.station.decider.sheet is None


def test_a_configured_event_mode_still_works_and_a_sheet_takes_over_in_its_window(
    tmp_path: Path,
) -> None:
    b = Bench(tmp_path)
    try:
        assert b.station.apply_settings(
            wire.StationSettings(version=5, mode="event", event="rapat-staf")
        )
        first = b.scan(b.bed.tokens[0], MORNING)
        assert (first.direction, first.event) == ("event", "rapat-staf")
        b.receive(wire.encode(sheet()))
        during = b.scan(b.bed.tokens[1], MORNING + 15 * MINUTE)
        assert (during.direction, during.event) == ("event", "apel-senin")
        later = b.scan(b.bed.tokens[1], MORNING + 61 * MINUTE)
        assert (later.direction, later.event) == ("event", "rapat-staf")
    finally:
        b.close()
