"""Scan records for tests: deterministic (the same station and seq give the same record) and
correctly chained, so hub, delivery and import tests agree on what "the same record" is."""

from __future__ import annotations

from functools import cache

from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import GENESIS, ScanRecord

T0 = 1_790_000_000_000


def record(station: str, seq: int, prev: str, employee: str | None = "E1") -> ScanRecord:
    return ScanRecord(
        station=station,
        seq=seq,
        scan_id=f"01900000-0000-7000-8000-{seq:012x}",  # deterministic: same seq, same record
        employee=employee,
        serial=seq % 7,
        outcome=Outcome.ACCEPTED,
        reason=Reason.OK,
        direction="in" if seq % 2 else "out",
        payload_sha256="ab" * 16,
        payload_len=150,
        wall_ms=T0 + seq * 1000,
        mono_ns=seq * 1_000_000,
        boot_id="boot-1",
        clock_synced=seq % 3 != 0,
        clock_last_sync_ms=T0 if seq % 3 else None,
        location="pool-a",
        config_version=1,
        prev_hash=prev,
    )


@cache
def chain(station: str, n: int, first: int = 1, prev: str = GENESIS) -> tuple[ScanRecord, ...]:
    """Records first..first+n-1 of a station, each holding the hash of the one before."""
    out: list[ScanRecord] = []
    for seq in range(first, first + n):
        out.append(record(station, seq, prev))
        prev = out[-1].digest()
    return tuple(out)
