"""`presensi station export`: a journal's records to a signed file, carried by hand.

By default the unacked records of the station's journals (the oldest journal with unacked
records; run again for the next); `--journal ID` picks a journal, `--journal-file` reads another
journal file, such as one moved aside as corrupt, as far as it can still be read.
"""

from __future__ import annotations

import time
from pathlib import Path

from presensi.device.config import StationConfig
from presensi.device.errors import StationError
from presensi.device.files import write_atomically
from presensi.device.journal import Journal, JournalInfo
from presensi.protocol.export import write_export
from presensi.protocol.keys import load_signing_key


def export_journal(
    config: StationConfig,
    out: Path,
    first: int | None,
    last: int | None,
    *,
    journal_id: str | None = None,
    journal_file: Path | None = None,
) -> int:
    key = load_signing_key(config.path(config.keys.station_key))
    path = journal_file if journal_file is not None else config.path(config.journal.path)
    journal = Journal(path, config.station.id, min_free_bytes=0, check_integrity=False)
    try:
        info = _pick(journal, journal_id)
        first = max(info.acked_upto, info.base_seq) + 1 if first is None else first
        last = info.newest_seq if last is None else last
        if first <= info.base_seq:
            raise StationError(
                f"records up to {info.base_seq} were purged; export from {info.base_seq + 1}"
            )
        if first > last:
            raise StationError(f"nothing to export: no records in {first}..{last}")
        prev_hash = (
            info.base_hash
            if first == info.base_seq + 1
            else journal.hash_of(first - 1, journal=info.id)
        )
        if prev_hash is None:
            raise StationError(f"record {first - 1} of journal {info.id} is missing")
        data = write_export(
            config.station.id,
            prev_hash,
            journal.records(first, last, journal=info.id),
            key,
            time.time_ns() // 1_000_000,
        )
    finally:
        journal.close()
    write_atomically(out, data)
    return last - first + 1


def _pick(journal: Journal, journal_id: str | None) -> JournalInfo:
    infos = journal.journals()
    if journal_id is not None:
        for info in infos:
            if info.id == journal_id:
                return info
        known = ", ".join(i.id for i in infos)
        raise StationError(f"no journal {journal_id} in {journal.path} (it holds {known})")
    pending = [i for i in infos if i.unacked > 0]
    return pending[0] if pending else infos[-1]
