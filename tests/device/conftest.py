from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from presensi.device.journal import Journal
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import ScanRecord


def draft(
    employee: str | None = "E1", wall_ms: int = 1_790_000_000_000, **kw: object
) -> ScanRecord:
    fields: dict[str, object] = dict(
        station="",
        seq=0,
        scan_id="01900000-0000-7000-8000-000000000000",
        employee=employee,
        serial=1,
        outcome=Outcome.ACCEPTED,
        reason=Reason.OK,
        direction="in",
        payload_sha256="ab" * 16,
        payload_len=150,
        wall_ms=wall_ms,
        mono_ns=0,
        boot_id="b",
        clock_synced=True,
        clock_last_sync_ms=None,
        location="pool-a",
        config_version=1,
        prev_hash="",
    )
    fields.update(kw)
    return ScanRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db", "st-1", min_free_bytes=1)
    yield j
    j.close()
