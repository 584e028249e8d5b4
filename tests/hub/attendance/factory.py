"""Scans for attendance tests: a station's journal of (employee, local time, direction), each
with a synced clock (an unsynced one would have its time corrected by the hub)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from presensi.device.testbed import sample_record
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import GENESIS, ScanRecord
from presensi.protocol.wire import Batch, batch_of

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=WIB).timestamp() * 1000)


def chain(
    station: str,
    scans: list[tuple[str, str, str]],
    outcome: Outcome = Outcome.ACCEPTED,
    reason: Reason = Reason.OK,
    **changes: Any,
) -> list[ScanRecord]:
    """A station's journal: (employee, local time, direction) each; `changes` replace fields of
    every record (a phone badge's serial, a payload fingerprint)."""
    out: list[ScanRecord] = []
    prev = GENESIS
    for seq, (employee, when, direction) in enumerate(scans, 1):
        fields: dict[str, Any] = {"serial": int(employee.rsplit("-", 1)[1])}  # one per employee
        fields.update(changes)
        record = sample_record(
            station,
            seq,
            prev,
            employee=employee,
            wall_ms=at(when),
            direction=direction,
            outcome=outcome,
            reason=reason,
            clock_synced=True,  # (an unsynced one would have its time corrected by the hub)
            clock_last_sync_ms=at(when) - 60_000,
            mono_ns=(at(when) - at("2026-12-07 00:00")) * 1_000_000,
            location=station.removeprefix("st-").rsplit("-", 1)[0],
            **fields,
        )
        out.append(record)
        prev = record.digest()
    return out


def batch(records: list[ScanRecord]) -> Batch:
    return batch_of(records[0].station, records[0].journal, records)
