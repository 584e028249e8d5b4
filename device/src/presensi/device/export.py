"""`presensi station export`: the journal's records to a signed file, carried by hand."""

from __future__ import annotations

import time
from pathlib import Path

from presensi.device.config import StationConfig
from presensi.device.errors import StationError
from presensi.device.files import write_atomically
from presensi.device.journal import Journal
from presensi.protocol.export import write_export
from presensi.protocol.keys import load_signing_key


def export_journal(config: StationConfig, out: Path, first: int | None, last: int | None) -> int:
    key = load_signing_key(config.path(config.keys.station_key))
    journal = Journal(config.path(config.journal.path), config.station.id, min_free_bytes=0)
    try:
        base_seq, base_hash = journal.base
        first = max(journal.acked_upto, base_seq) + 1 if first is None else first
        last = journal.last_seq if last is None else last
        if first <= base_seq:
            raise StationError(f"records up to {base_seq} were purged; export from {base_seq + 1}")
        if first > last:
            raise StationError(f"nothing to export: no records in {first}..{last}")
        prev_hash = base_hash if first == base_seq + 1 else journal.hash_of(first - 1)
        assert prev_hash is not None
        data = write_export(
            config.station.id,
            prev_hash,
            journal.records(first, last),
            key,
            time.time_ns() // 1_000_000,
        )
    finally:
        journal.close()
    write_atomically(out, data)
    return last - first + 1
