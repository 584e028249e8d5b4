"""`presensi station export`: a journal's records to a signed file, carried by hand.

By default the unacked records of the station's journals (the oldest journal with unacked
records; run again for the next); `--journal ID` picks a journal, `--journal-file` reads another
journal file, such as one moved aside as corrupt, as far as it can still be read.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from presensi.device.config import StationConfig
from presensi.device.errors import StationError
from presensi.device.files import write_atomically
from presensi.device.journal import Journal, JournalInfo
from presensi.protocol.errors import ProtocolError
from presensi.protocol.export import write_export
from presensi.protocol.keys import SigningKey, load_signing_key
from presensi.protocol.record import ScanRecord, decode_record


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
    if journal_file is not None:
        return _export_salvaged(config, key, journal_file, out, journal_id)
    path = config.path(config.journal.path)
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
            hint = (
                f" (everything up to {last} was acked by the hub; to export it all anyway, add "
                f"--from {info.base_seq + 1})"
                if last >= 1 and first > last
                else ""
            )
            raise StationError(f"nothing to export: no records in {first}..{last}{hint}")
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


def _export_salvaged(
    config: StationConfig, key: SigningKey, path: Path, out: Path, journal_id: str | None
) -> int:
    """Export what can still be read of a damaged journal file, never writing to it: the
    longest run of contiguous records of the journal (by default the one with the most)."""
    runs = salvage(path, config.station.id)
    if journal_id is not None:
        runs = {j: r for j, r in runs.items() if j == journal_id}
    if not runs:
        raise StationError(f"{path}: no readable records of this station's journals")
    records = max(runs.values(), key=len)
    data = write_export(
        config.station.id, records[0].prev_hash, records, key, time.time_ns() // 1_000_000
    )
    write_atomically(out, data)
    return len(records)


def salvage(path: Path, station: str) -> dict[str, list[ScanRecord]]:
    """journal id -> the longest run of contiguous, readable, chained records in a journal
    file that may be damaged (opened read-only and immutable: nothing is written to it)."""
    uri = f"file:{path}?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StationError(f"{path}: cannot be opened at all: {exc}") from exc
    found: dict[str, list[ScanRecord]] = {}
    try:
        cursor = db.execute("SELECT body FROM records ORDER BY jid, seq")
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.DatabaseError:
                break  # a damaged page: what was read so far is what there is
            if row is None:
                break
            try:
                record = decode_record(bytes(row[0]))
            except ProtocolError:
                continue
            if record.station == station:
                found.setdefault(record.journal, []).append(record)
    except sqlite3.DatabaseError as exc:
        if not found:
            raise StationError(f"{path}: no records can be read: {exc}") from exc
    finally:
        db.close()
    return {journal: _longest_run(records) for journal, records in found.items()}


def _longest_run(records: list[ScanRecord]) -> list[ScanRecord]:
    best = (0, 0)  # [start, end) of the longest run
    start = 0
    for i in range(1, len(records) + 1):
        broken = i == len(records) or (
            records[i].seq != records[i - 1].seq + 1
            or records[i].prev_hash != records[i - 1].digest()
        )
        if broken:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    return records[best[0] : best[1]]
