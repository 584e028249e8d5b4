"""The decider with phone codes (presensi.protocol.phone): verified by scheme, replays of one
code at this station recorded as duplicates, printed cards unchanged."""

from __future__ import annotations

import pytest

from presensi.device.clock import ClockState
from presensi.device.config import StationSection
from presensi.device.decide import Decider, Moment, signal_for
from presensi.hardware.indicator import Signal
from presensi.protocol import badge, phone
from presensi.protocol.keys import KeyRing, Revocations, SigningKey
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import ScanRecord

ORG = SigningKey.from_seed(b"\x01" * 32)
T0 = 1_790_000_010_000  # the first second of a 15 s time step
SYNCED = ClockState(True, None)
DEVICE = phone.DeviceKey.from_scalar(0xD1CE)
CERT = phone.certify(ORG, "E1", 501, DEVICE.public_point, 0, 2**32 - 1)


def decider(window_s: int = 120, mode: str = "auto") -> Decider:
    station = StationSection(id="st-1", location="pool-a", mode=mode, duplicate_window_s=window_s)  # type: ignore[arg-type]
    return Decider(
        station, KeyRing.of([ORG.public]), Revocations(1, frozenset({9})), config_version=3
    )


def at(ms: int, boot: str = "b1", clock: ClockState = SYNCED) -> Moment:
    return Moment(ms, ms * 1_000_000, boot, clock)


def code(ms: int, cert: phone.DeviceCertificate = CERT) -> str:
    return DEVICE.code_at(cert, ms // 1000).to_text()


def scan(d: Decider, text: str, moment: Moment) -> ScanRecord:
    record = d.decide(text, moment)
    d.remember(record)
    return record


def test_a_phone_code_is_accepted_with_the_certificates_employee_and_serial() -> None:
    record = scan(decider(), code(T0), at(T0))
    assert (record.outcome, record.reason) == (Outcome.ACCEPTED, Reason.OK)
    assert (record.employee, record.serial, record.direction) == ("E1", 501, "in")
    assert signal_for(record) is Signal.ACCEPTED_IN
    assert record.payload_len == len(code(T0))


def test_the_same_code_again_is_recorded_as_a_replay_not_counted() -> None:
    d = decider(window_s=0)  # even with no duplicate window
    first = scan(d, code(T0), at(T0))
    again = scan(d, code(T0), at(T0 + 3_000))
    assert first.outcome is Outcome.ACCEPTED
    assert (again.outcome, again.reason) == (Outcome.DUPLICATE, Reason.PHONE_REPLAYED)
    assert (again.employee, again.direction) == ("E1", first.direction)
    assert signal_for(again) is Signal.DUPLICATE


def test_an_older_code_of_the_same_phone_after_a_newer_one_is_a_replay() -> None:
    d = decider(window_s=0)
    older = code(T0 - 15_000)  # a screenshot of the previous step, still within tolerance
    assert scan(d, code(T0), at(T0)).outcome is Outcome.ACCEPTED
    assert scan(d, older, at(T0 + 1_000)).reason is Reason.PHONE_REPLAYED


def test_the_next_step_of_the_phone_is_a_new_scan() -> None:
    d = decider(window_s=0)
    scan(d, code(T0), at(T0))
    later = scan(d, code(T0 + 15_000), at(T0 + 15_000))
    assert (later.outcome, later.direction) == (Outcome.ACCEPTED, "out")
    # and with the usual duplicate window, the next step within it is a duplicate as for a card
    d = decider(window_s=120)
    scan(d, code(T0), at(T0))
    assert scan(d, code(T0 + 15_000), at(T0 + 15_000)).reason is Reason.DUPLICATE_WINDOW


def test_a_draft_the_journal_did_not_store_does_not_count_as_seen() -> None:
    d = decider(window_s=0)
    d.decide(code(T0), at(T0))  # never remembered: the journal refused it
    assert scan(d, code(T0), at(T0 + 1_000)).outcome is Outcome.ACCEPTED


def test_a_screenshot_older_than_the_window_is_refused() -> None:
    record = scan(decider(), code(T0 - 31_000), at(T0))
    assert (record.outcome, record.reason) == (Outcome.REJECTED, Reason.PHONE_EXPIRED_STEP)
    assert (record.employee, record.serial) == ("E1", 501)  # who it claims to be: for alerts
    assert signal_for(record) is Signal.REJECTED


def test_an_unsynced_station_lagging_behind_accepts_the_phones_newer_step() -> None:
    lagging = at(T0 - 600_000, clock=ClockState(False, None))  # booted 10 min behind, offline
    assert scan(decider(), code(T0), lagging).outcome is Outcome.ACCEPTED
    assert scan(decider(), code(T0), at(T0 - 600_000)).reason is Reason.PHONE_FUTURE_STEP


def test_revoked_certificate_serial_and_wrong_device_key_are_refused() -> None:
    revoked = phone.certify(ORG, "E2", 9, DEVICE.public_point, 0, 2**32 - 1)
    assert scan(decider(), code(T0, revoked), at(T0)).reason is Reason.REVOKED
    stranger = phone.DeviceKey.from_scalar(0xBAD).code_at(CERT, T0 // 1000).to_text()
    record = scan(decider(), stranger, at(T0))
    assert (record.outcome, record.reason) == (
        Outcome.REJECTED,
        Reason.PHONE_BAD_DEVICE_SIGNATURE,
    )


@pytest.mark.parametrize("text", ["PRP1:", "PRP1:AAAA", code(T0)[:-8]])
def test_malformed_phone_codes_are_rejected(text: str) -> None:
    record = scan(decider(), text, at(T0))
    assert (record.outcome, record.reason, record.employee) == (
        Outcome.REJECTED,
        Reason.MALFORMED,
        None,
    )


def test_printed_cards_and_phone_codes_share_the_employees_window() -> None:
    d = decider(window_s=120)
    card = badge.issue(ORG, "E1", 1, 0, 2**32 - 1).to_text()
    assert scan(d, card, at(T0)).outcome is Outcome.ACCEPTED
    assert scan(d, code(T0 + 5_000), at(T0 + 5_000)).reason is Reason.DUPLICATE_WINDOW
    assert scan(d, card, at(T0 + 200_000)).reason is Reason.OK  # the card, unchanged
