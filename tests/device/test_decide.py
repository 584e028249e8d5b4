from __future__ import annotations

import pytest

from presensi.device.clock import ClockState
from presensi.device.config import StationSection
from presensi.device.decide import Decider, Moment, signal_for
from presensi.hardware.indicator import Signal
from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Outcome, Reason

ORG = SigningKey.from_seed(b"\x01" * 32)
T0 = 1_790_000_000_000  # 2026-09-21 21:33 Asia/Jakarta
SYNCED = ClockState(True, None)


def token(employee: str = "E1", serial: int = 1) -> str:
    return badge.issue(ORG, employee, serial, 0, 2**32 - 1).to_text()


def decider(mode: str = "auto", window_s: int = 120, **kw: object) -> Decider:
    station = StationSection(
        id="st-1", location="pool-a", mode=mode, duplicate_window_s=window_s, **kw
    )  # type: ignore[arg-type]
    return Decider(
        station, KeyRing.of([ORG.public]), Revocations(1, frozenset({9})), config_version=3
    )


def at(ms: int, boot: str = "b1") -> Moment:
    return Moment(ms, ms * 1_000_000, boot, SYNCED)


def scan(d: Decider, text: str, moment: Moment):  # type: ignore[no-untyped-def]
    record = d.decide(text, moment)
    d.remember(record)
    return record


def test_auto_mode_first_scan_of_day_is_in_then_out() -> None:
    d = decider()
    first = scan(d, token(), at(T0))
    second = scan(d, token(), at(T0 + 3_600_000))
    assert (first.direction, second.direction) == ("in", "out")
    assert signal_for(first) is Signal.ACCEPTED_IN and signal_for(second) is Signal.ACCEPTED_OUT


def test_auto_mode_new_local_day_starts_with_in() -> None:
    d = decider()
    scan(d, token(), at(T0))  # 21:33 WIB
    nxt = scan(d, token(), at(T0 + 3 * 3_600_000))  # 00:33 WIB next day
    assert nxt.direction == "in"


def test_duplicate_window_records_a_duplicate_of_the_same_direction() -> None:
    d = decider(window_s=120)
    first = scan(d, token(), at(T0))
    dup = scan(d, token(), at(T0 + 119_000))
    after = scan(d, token(), at(T0 + 121_000))
    assert (dup.outcome, dup.reason, dup.direction) == (
        Outcome.DUPLICATE,
        Reason.DUPLICATE_WINDOW,
        first.direction,
    )
    assert signal_for(dup) is Signal.DUPLICATE
    assert after.outcome is Outcome.ACCEPTED and after.direction == "out"


def test_window_uses_monotonic_time_within_a_boot() -> None:
    d = decider(window_s=120)
    scan(d, token(), Moment(T0, 0, "b1", SYNCED))
    # the wall clock jumped back an hour (NTP correction), 10 s of monotonic time passed
    dup = scan(d, token(), Moment(T0 - 3_600_000, 10_000_000_000, "b1", SYNCED))
    assert dup.outcome is Outcome.DUPLICATE


def test_window_after_reboot_uses_wall_time() -> None:
    d = decider(window_s=120)
    scan(d, token(), at(T0, "b1"))
    assert scan(d, token(), Moment(T0 + 5_000, 1, "b2", SYNCED)).outcome is Outcome.DUPLICATE
    assert scan(d, token(), Moment(T0 + 500_000, 2, "b2", SYNCED)).outcome is Outcome.ACCEPTED


def test_restore_rebuilds_state_from_records() -> None:
    d = decider()
    first = scan(d, token(), at(T0))
    fresh = decider()
    fresh.restore([first])
    assert fresh.decide(token(), at(T0 + 1000)).outcome is Outcome.DUPLICATE


@pytest.mark.parametrize("mode", ["in", "out"])
def test_fixed_modes(mode: str) -> None:
    d = decider(mode=mode)
    assert {scan(d, token(), at(T0 + i * 3_600_000)).direction for i in range(3)} == {mode}


def test_event_mode_records_the_event() -> None:
    d = decider(mode="event", event="apel-pagi-2026-11-30")
    record = scan(d, token(), at(T0))
    assert (record.direction, record.event) == ("event", "apel-pagi-2026-11-30")


def test_the_duplicate_window_does_not_carry_across_a_change_of_event() -> None:
    """Seen in the field: an "out" less than 120 s before the apel began at the station was
    recorded at the apel as a duplicate of that "out", and the employee was not counted."""
    d = decider(mode="out", window_s=120)
    out = scan(d, token(), at(T0))
    apel = StationSection(
        id="st-1", location="pool-a", mode="event", event="apel-senin", duplicate_window_s=120
    )
    d.reconfigure(apel, 4)
    came = scan(d, token(), at(T0 + 30_000))
    assert (out.outcome, came.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert (came.direction, came.event) == ("event", "apel-senin")
    # within the event, a second scan is a duplicate of the first (counted once)
    again = scan(d, token(), at(T0 + 40_000))
    assert (again.outcome, again.event) == (Outcome.DUPLICATE, "apel-senin")
    # the next event at the same station: a new attendance, not a duplicate
    d.reconfigure(
        StationSection(
            id="st-1", location="pool-a", mode="event", event="rapat-staf", duplicate_window_s=120
        ),
        5,
    )
    assert scan(d, token(), at(T0 + 50_000)).outcome is Outcome.ACCEPTED
    # and restored from the journal after a restart, the event still tells them apart
    fresh = decider(mode="event", event="rapat-staf")
    fresh.restore([came])
    assert fresh.decide(token(), at(T0 + 60_000)).outcome is Outcome.ACCEPTED


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://example.com", Reason.NOT_A_BADGE),
        ("PRS1:AAAA", Reason.MALFORMED),
        (badge.issue(ORG, "E9", 9, 0, 2**32 - 1).to_text(), Reason.REVOKED),
        (
            badge.issue(SigningKey.from_seed(b"\x02" * 32), "E1", 1, 0, 2**32 - 1).to_text(),
            Reason.UNKNOWN_KEY,
        ),
    ],
)
def test_rejections_carry_reason_and_no_pii(text: str, reason: Reason) -> None:
    record = scan(decider(), text, at(T0))
    assert (record.outcome, record.reason) == (Outcome.REJECTED, reason)
    assert signal_for(record) is Signal.REJECTED
    assert text not in record.canonical().decode()
    assert record.payload_len == len(text)


def test_unsynced_clock_accepts_a_badge_not_yet_valid_and_says_so() -> None:
    text = badge.issue(ORG, "E1", 1, T0 // 1000 + 86_400, 2**32 - 1).to_text()
    moment = Moment(T0, 0, "b", ClockState(False, None))
    record = decider().decide(text, moment)
    assert record.outcome is Outcome.ACCEPTED and record.clock_synced is False
    assert decider().decide(text, at(T0)).reason is Reason.NOT_YET_VALID


def test_rejected_scans_do_not_start_a_window() -> None:
    d = decider()
    scan(d, badge.issue(ORG, "E1", 9, 0, 2**32 - 1).to_text(), at(T0))  # revoked serial 9
    assert scan(d, token("E1", 2), at(T0 + 1000)).outcome is Outcome.ACCEPTED


def test_settings_are_swapped_whole_under_concurrent_scans() -> None:
    """The hub's settings arrive on the uplink thread while the scan loop decides: every
    decision sees one set of settings (mode, location, version, time zone), never a mix."""
    import threading

    d = decider(mode="in")
    a = StationSection(id="st-1", location="pool-a", mode="in", timezone="Asia/Jakarta")
    b = StationSection(
        id="st-1", location="halte-b", mode="event", event="apel-senin", timezone="Asia/Jayapura"
    )
    stop = threading.Event()

    def swap() -> None:
        version = 10
        while not stop.is_set():
            version += 1
            d.reconfigure(a if version % 2 else b, version)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        seen = set()
        for i in range(800):
            snapshot = d.settings
            assert snapshot.zone.key == snapshot.station.timezone
            record = d.decide(token(f"E{i % 50}", i % 50 + 1), at(T0 + i))
            odd = record.config_version % 2 == 1
            assert (record.location == "pool-a") is odd
            assert (record.direction == "in") is odd and (record.event is None) is odd
            seen.add(odd)
    finally:
        stop.set()
        swapper.join()
    assert seen == {True, False}  # both settings were really in play
