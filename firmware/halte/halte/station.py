"""The halte station: scan, decide, store, signal; deliver when idle.

One loop, one thread. A scan is handled as soon as its line is complete: verify, store (flash
write closed), then signal. The uplink gets a step only when no scan is waiting, so network
work (a batch signature, a reconnect) delays a scan by at most one step. A scan that cannot be
stored (flash or journal full, a write error) shows the fault signal and never a success.
Faults are codes (English, stable) kept in `faults` and sent in telemetry.
"""

import json

from halte import SOFTWARE
from halte.decide import Decider, Moment
from halte.fleet import TOPICS, Fleet, FleetError
from halte.indicator import signal_for
from halte.journal import Journal, JournalError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from halte.clock import Clock
    from halte.indicator import Indicator
    from halte.scanner import Scanner
    from halte.settings import Settings
    from halte.uplink import Uplink

RESTORE_RECORDS = 64  # recent records read back at start for the duplicate window


class Station:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        scanner: Scanner,
        indicator: Indicator,
        clock: Clock,
        uplink: Uplink | None = None,
        free_bytes: Any = None,
        rssi: Any = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.scanner = scanner
        self.indicator = indicator
        self.clock = clock
        self.uplink = uplink
        self.free_bytes = free_bytes
        self.rssi = rssi
        self.fleet = fleet
        keys, revoked = settings.keys, settings.revoked
        if fleet is not None:
            keys, revoked = fleet.keys, fleet.revoked  # the same objects, updated in place
        self.decider = Decider(settings, keys, revoked)
        self.faults: dict[str, int] = {}
        for code in journal.faults + (fleet.faults if fleet is not None else []):
            self.fault(code)
        self.signalled = 0
        self.last_scan_ms: int | None = None
        for rec in journal.recent(RESTORE_RECORDS):
            self.decider.remember(rec)
            if rec["clock_synced"] and (clock.floor_ms or 0) < rec["wall_ms"]:
                clock.floor_ms = rec["wall_ms"]
        if uplink is not None:
            uplink.telemetry = self.telemetry
            uplink.on_message = self.receive

    def receive(self, topic: str, payload: bytes) -> None:
        """A message from the hub other than an ack: fleet documents are verified and applied;
        anything wrong is a fault code, never an exception."""
        kind = TOPICS.get(topic)
        if kind is None or self.fleet is None:
            return
        try:
            self.fleet.apply(kind, payload)
        except FleetError as exc:
            self.fault(exc.code)
        except OSError:
            self.fault("fleet_store_failed")

    def fault(self, code: str) -> None:
        self.faults[code] = self.faults.get(code, 0) + 1

    def moment(self) -> Moment:
        c = self.clock
        return Moment(c.wall_ms(), c.mono_ns(), c.boot_id, c.synced, c.last_sync_ms, c.trusted_ms())

    def handle(self, data: bytes) -> dict[str, Any] | None:
        """One scanned line: the stored record, or None when it could not be stored."""
        now = self.clock.ticks.ms()
        draft = self.decider.decide(data, self.moment())
        try:
            stored = self.journal.append(draft)
        except JournalError as exc:
            self.fault(str(exc).split(":")[0])
            self.indicator.show("fault", now)
            return None
        self.decider.remember(stored)
        self.indicator.show(signal_for(stored), now)
        self.signalled += 1
        self.last_scan_ms = stored["wall_ms"]
        return stored

    def step(self) -> None:
        """One turn of the main loop."""
        now = self.clock.ticks.ms()
        line = self.scanner.poll()
        if line is not None:
            self.handle(line)
        elif self.uplink is not None:
            self.uplink.step(now, self.clock.wall_ms())
        self.indicator.tick(self.clock.ticks.ms())

    def telemetry(self) -> dict[str, Any]:
        j = self.journal
        journals = j.journals()
        current = journals[-1] if journals else (j.current, 0, 0)
        oldest = j.oldest_unacked()
        oldest_ms = None
        if oldest is not None:
            first = j.records(oldest[0], oldest[1], 1)
            if first:
                oldest_ms = json.loads(first[0])["wall_ms"]
        free = self.free_bytes() if self.free_bytes is not None else None
        values: dict[str, Any] = {
            "ts_ms": self.clock.wall_ms(),
            "journal": current[0],
            "last_seq": current[1],
            "acked_upto": current[2],
            "backlog": j.backlog(),
            "journals": {
                name: [last, acked]
                for name, last, acked in journals
                if last > acked or name == current[0]
            },
            "oldest_unacked_ms": oldest_ms,
            "disk_free_mb": None if free is None else free >> 20,
            "flash_free_kb": None if free is None else free >> 10,
            "journal_bytes": j.used_bytes(),
            "clock_synced": self.clock.synced,
            "ticks_ms": self.clock.ticks.ms(),
            "last_scan_ms": self.last_scan_ms,
            "version": SOFTWARE,
            "revocations_version": (
                self.fleet.versions["revocations"]
                if self.fleet is not None
                else self.settings.revocations_version
            ),
            "keys_version": self.fleet.versions["keys"] if self.fleet is not None else 0,
            "config_version": self.settings.config_version,
            "faults": self.faults,
            "scanner": {"overlong": self.scanner.overlong, "noise": self.scanner.noise},
            "wifi_rssi": self.rssi() if self.rssi is not None else None,
        }
        if self.uplink is not None:
            values["uplink"] = self.uplink.stats
        return values
