"""Deciding what a scanned text means: verify the badge (a printed card, or a phone code), apply
the duplicate window, and pick the direction from the station's mode, or from the event sheet
while its window is open. Pure logic: no I/O, the caller stores and signals."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from presensi.device.clock import ClockState
from presensi.device.config import StationSection
from presensi.device.eventsheet import serving
from presensi.hardware.indicator import Signal
from presensi.protocol import badge, phone, wire
from presensi.protocol.ids import uuid7
from presensi.protocol.keys import KeyRing, Revocations
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import Direction, ScanRecord, payload_fingerprint

_MAX_PENDING = 64
_MAX_PHONE_STEPS = 4096


@dataclass(frozen=True)
class Moment:
    """When a scan happened, by every clock the record keeps, and by the station's trusted
    time (presensi.device.clock.StationClock), which its decisions use."""

    wall_ms: int
    mono_ns: int
    boot_id: str
    clock: ClockState
    trusted_ms: int | None = None  # None: the wall clock is trusted as it is

    @property
    def time_ms(self) -> int:
        return self.wall_ms if self.trusted_ms is None else self.trusted_ms


@dataclass(frozen=True)
class Settings:
    """The station settings the decider applies, swapped in as one reference."""

    station: StationSection
    config_version: int
    zone: zoneinfo.ZoneInfo


@dataclass
class _Seen:
    wall_ms: int
    mono_ns: int
    boot_id: str
    day: dt.date
    direction: Direction
    event: str | None = None  # the event it was scanned for (event mode), if any


class Decider:
    """Turns scanned texts into draft records (seq and chain hash are the journal's to add)."""

    def __init__(
        self, station: StationSection, keys: KeyRing, revoked: Revocations, *, config_version: int
    ) -> None:
        self.settings = Settings(station, config_version, zoneinfo.ZoneInfo(station.timezone))
        self.keys = keys
        self.revoked = revoked
        # the hub's event sheet (presensi.device.eventsheet), swapped as one reference: inside
        # its window a scan is for its event, whatever the mode; outside it, the mode rules
        self.sheet: wire.EventSheet | None = None
        self._last_accepted: dict[str, _Seen] = {}
        self._last_in_out: dict[str, _Seen] = {}  # the last accepted scan not for an event
        # phone codes: the newest time step recorded per certificate id, so the same code (or an
        # older one of the same phone) shown again here is a replay; and the steps of drafts
        # not yet committed, by scan id (remember() moves them over once the journal has them)
        self._phone_steps: dict[bytes, int] = {}
        self._phone_pending: dict[str, tuple[bytes, int]] = {}

    @property
    def station(self) -> StationSection:
        return self.settings.station

    @property
    def config_version(self) -> int:
        return self.settings.config_version

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self.settings.zone

    def reconfigure(self, station: StationSection, config_version: int) -> None:
        """Apply new station settings: the zone is built first, then the whole settings object
        is swapped in one assignment, so a scan sees the old settings or the new, never a mix."""
        self.settings = Settings(station, config_version, zoneinfo.ZoneInfo(station.timezone))

    def restore(self, records: Iterable[ScanRecord]) -> None:
        """Rebuild the duplicate-window and in/out state from the journal's recent records."""
        for record in records:
            self.remember(record)

    def remember(self, record: ScanRecord) -> None:
        """Note a committed record (call only after the journal has stored it)."""
        pending = self._phone_pending.pop(record.scan_id, None)
        if pending is not None:
            self._note_phone_step(*pending)
        if record.outcome is Outcome.ACCEPTED and record.employee is not None:
            seen = _Seen(
                record.wall_ms,
                record.mono_ns,
                record.boot_id,
                self._day(record.wall_ms, self.settings.zone),
                record.direction,
                record.event,
            )
            self._last_accepted[record.employee] = seen
            if record.event is None:  # an apel in between is no arrival nor departure
                self._last_in_out[record.employee] = seen

    @staticmethod
    def event_at(at: Moment, settings: Settings, sheet: wire.EventSheet | None) -> str | None:
        """The event a scan at `at` is for: the sheet's inside its window, else the configured
        event in event mode, else none."""
        event = serving(sheet, at.time_ms)
        if event is None and settings.station.mode == "event":
            event = settings.station.event
        return event

    def decide(self, text: str, at: Moment) -> ScanRecord:
        settings = self.settings  # one read: the whole decision under one set of settings
        sheet = self.sheet  # ... and one event sheet
        station, config_version = settings.station, settings.config_version
        event = self.event_at(at, settings, sheet)
        employee: str | None
        serial: int | None
        phone_step: tuple[bytes, int] | None = None
        if text.startswith(phone.PREFIX):
            pv = phone.verify(
                text, self.keys, self.revoked, at.time_ms // 1000, synced=at.clock.synced
            )
            ok, reason = pv.ok, pv.reason
            cert = pv.code.cert if pv.code is not None else None
            employee = cert.employee if cert is not None else None
            serial = cert.serial if cert is not None else None
            if pv.ok and pv.code is not None:
                phone_step = (pv.code.cert.cert_id, pv.code.step)
        else:
            verdict = badge.verify(
                text, self.keys, self.revoked, at.time_ms // 1000, check_not_before=at.clock.synced
            )
            ok, reason = verdict.ok, verdict.reason
            token = verdict.token
            employee = token.employee if token is not None else None
            serial = token.serial if token is not None else None
        outcome = Outcome.ACCEPTED if ok else Outcome.REJECTED
        direction = self._direction(employee if ok else None, at, settings, event)
        if phone_step is not None and self._phone_replayed(*phone_step):
            # the same code (or an older one of the same phone) again: recorded, not counted
            outcome, reason = Outcome.DUPLICATE, Reason.PHONE_REPLAYED
            seen = self._last_accepted.get(employee) if employee is not None else None
            if seen is not None:
                direction = seen.direction
        elif ok and employee is not None and self._within_window(employee, at, station, event):
            outcome, reason = Outcome.DUPLICATE, Reason.DUPLICATE_WINDOW
            direction = self._last_accepted[employee].direction  # a repeat of that scan
        scan_id = uuid7(at.time_ms)
        if phone_step is not None:
            if len(self._phone_pending) >= _MAX_PENDING:  # drafts the caller never stored
                self._phone_pending.pop(next(iter(self._phone_pending)))
            self._phone_pending[scan_id] = phone_step
        return ScanRecord(
            station=station.id,
            seq=0,
            scan_id=scan_id,
            employee=employee,
            serial=serial,
            outcome=outcome,
            reason=reason,
            direction=direction,
            event=event,
            payload_sha256=payload_fingerprint(text),
            payload_len=len(text),
            wall_ms=at.wall_ms,
            mono_ns=at.mono_ns,
            boot_id=at.boot_id,
            clock_synced=at.clock.synced,
            clock_last_sync_ms=at.clock.last_sync_ms,
            location=station.location,
            config_version=config_version,
            prev_hash="",
        )

    def _phone_replayed(self, cert_id: bytes, step: int) -> bool:
        newest = self._phone_steps.get(cert_id)
        return newest is not None and step <= newest

    def _note_phone_step(self, cert_id: bytes, step: int) -> None:
        if step > self._phone_steps.get(cert_id, -1):
            self._phone_steps[cert_id] = step
        if len(self._phone_steps) > _MAX_PHONE_STEPS:
            # a step older than the newest one noted minus the tolerance can no longer verify
            # (phone_expired_step), so its entry has nothing left to catch
            horizon = max(self._phone_steps.values()) - 2 * phone.SYNCED_TOLERANCE_STEPS - 1
            self._phone_steps = {c: s for c, s in self._phone_steps.items() if s >= horizon}

    def _within_window(
        self, employee: str, at: Moment, station: StationSection, event: str | None
    ) -> bool:
        """A repeat of the employee's last accepted scan: within the window and for the same
        event (or both for none). A scan "out" just before the apel starts at this station is
        not a duplicate of the apel's attendance, nor the other way round."""
        seen = self._last_accepted.get(employee)
        if seen is None:
            return False
        if seen.event != event:
            return False
        window_ms = station.duplicate_window_s * 1000
        if seen.boot_id == at.boot_id:  # same boot: the monotonic clock cannot jump
            return (at.mono_ns - seen.mono_ns) // 1_000_000 < window_ms
        return 0 <= at.time_ms - seen.wall_ms < window_ms

    def _direction(
        self, employee: str | None, at: Moment, settings: Settings, event: str | None
    ) -> Direction:
        mode = settings.station.mode
        if event is not None or mode == "event":
            return "event"
        if mode != "auto":
            return mode
        if employee is None:
            return "in"
        seen = self._last_in_out.get(employee)
        if seen is None:
            return "in"
        # auto: the first accepted scan of the local day is the arrival, later ones departures;
        # within a boot the day comes from the monotonic clock, which no clock step moves
        if seen.boot_id == at.boot_id:
            seen_ms = at.time_ms - (at.mono_ns - seen.mono_ns) // 1_000_000
            seen_day = self._day(seen_ms, settings.zone)
        else:
            seen_day = seen.day
        return "out" if seen_day == self._day(at.time_ms, settings.zone) else "in"

    @staticmethod
    def _day(wall_ms: int, zone: zoneinfo.ZoneInfo) -> dt.date:
        return dt.datetime.fromtimestamp(wall_ms / 1000, zone).date()


def signal_for(record: ScanRecord) -> Signal:
    if record.outcome is Outcome.REJECTED:
        return Signal.REJECTED
    if record.outcome is Outcome.DUPLICATE:
        return Signal.DUPLICATE
    return Signal.ACCEPTED_OUT if record.direction == "out" else Signal.ACCEPTED_IN
