"""A throwaway station on disk (org key, badges, config and journal in one folder), and the one
builder of sample scan records.

Used by the station's own bench, the demo, the hub bench and the tests, so each of them runs a
real station (the same config loading, journal and scan loop) without any hardware or
provisioning, and all of them agree on what a given sample record is.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from presensi.device.journal import Journal
from presensi.protocol import badge
from presensi.protocol.keys import KeyRing, Revocations, SigningKey, save_signing_key
from presensi.protocol.reasons import Outcome, Reason
from presensi.protocol.record import GENESIS, ScanRecord

DAY_S = 86_400


@dataclass(frozen=True)
class StationFolder:
    folder: Path
    config_path: Path
    org: SigningKey
    tokens: list[str]

    @property
    def journal_path(self) -> Path:
        return self.folder / "journal.db"


def make_tokens(
    org: SigningKey, count: int, *, prefix: str = "EMP", first_serial: int = 1
) -> list[str]:
    now = int(time.time())
    return [
        badge.issue(
            org, f"{prefix}-{i:05d}", first_serial + i, now - DAY_S, now + 365 * DAY_S
        ).to_text()
        for i in range(count)
    ]


def create(
    folder: Path,
    *,
    station: str = "st-test-01",
    employees: int = 50,
    camera: str = "sim",
    fps: float | None = None,
    indicator: str = "console",
    mode: str = "auto",
    window_s: int = 120,
    revoked: tuple[int, ...] = (),
    org_seed: bytes | None = None,
    broker: str = "",
    uplink: Mapping[str, float | int] | None = None,
    journal_path: Path | None = None,
) -> StationFolder:
    folder.mkdir(parents=True, exist_ok=True)
    org = SigningKey.from_seed(org_seed) if org_seed else SigningKey.generate()
    tokens = make_tokens(org, employees)
    (folder / "org-keys.json").write_text(json.dumps(KeyRing.of([org.public]).to_json()))
    (folder / "revocations.json").write_text(
        json.dumps(Revocations(1, frozenset(revoked)).to_json())
    )
    (folder / "badges.txt").write_text("\n".join(tokens) + "\n")
    key_path = folder / "station.key"
    if not key_path.exists():
        save_signing_key(key_path, SigningKey.generate())
    settings = {"reconnect_min_s": 0.2, "reconnect_max_s": 2, "resend_s": 5, "telemetry_s": 2}
    settings.update(uplink or {})
    fps_line = f"fps = {fps}\n" if fps else ""
    config = folder / "station.toml"
    config.write_text(
        f'[station]\nid = "{station}"\nlocation = "pool-test"\nmode = "{mode}"\n'
        f"duplicate_window_s = {window_s}\nconfig_version = 1\n"
        f'[camera]\nbackend = "{camera}"\nsource = "badges.txt"\n{fps_line}retry_s = 0.2\n'
        f'[indicator]\nbackend = "{indicator}"\n'
        "[journal]\nmin_free_mb = 1\n"
        + (f'path = "{journal_path}"\n' if journal_path is not None else "")
        + f'[clock]\nsource = "synced"\n'
        f'[uplink]\nbroker = "{broker}"\n' + "".join(f"{k} = {v}\n" for k, v in settings.items())
    )
    return StationFolder(folder, config, org, tokens)


def fill_journal(path: Path, station: str, count: int, *, start_ms: int | None = None) -> None:
    """Append `count` realistic (~530-byte), correctly chained, unacked records to a journal,
    bulk-loaded in transactions of 10,000 (for benchmarks: far faster than scanning them)."""
    # by default older than a station's restore window (36 h), as after a long outage
    at = (
        time.time_ns() // 1_000_000 - 3 * DAY_S * 1000 - count * 1000
        if start_ms is None
        else start_ms
    )
    fill_journal_with(
        path,
        station,
        count,
        lambda seq: {"wall_ms": at + seq * 1000, "location": "pool-bench", "clock_synced": True},
    )


def fill_journal_with(
    path: Path, station: str, count: int, fields: Callable[[int], dict[str, Any]]
) -> None:
    """Append `count` correctly chained, unacked records to a journal, bulk-loaded in
    transactions of 10,000 (for benchmarks): seq n is sample_record's with `fields(n)` (e.g.
    employee, wall_ms, direction, location) replaced."""
    journal = Journal(path, station, min_free_bytes=0, check_integrity=False)
    db = journal._db
    db.execute("PRAGMA synchronous=OFF")
    prev, first = journal.last_hash, journal.last_seq + 1
    jid, journal_id = journal.jid, journal.journal_id
    try:
        for chunk in range(first, first + count, 10_000):
            rows = []
            for seq in range(chunk, min(chunk + 10_000, first + count)):
                record = sample_record(
                    station, seq, prev, journal=journal_id, clock_last_sync_ms=T0_MS, **fields(seq)
                )
                body = record.canonical()
                digest = hashlib.sha256(body).digest()
                prev = digest.hex()
                rows.append((jid, seq, record.wall_ms, digest, body))
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO records (jid, seq, wall_ms, hash, body) VALUES (?, ?, ?, ?, ?)", rows
            )
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        journal.close()


# -- sample scan records: the one builder of records for tests, benches and the demo ---------------

T0_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC: a fixed time, so records are reproducible
# shaped like /proc/sys/kernel/random/boot_id
SAMPLE_BOOT_ID = "0f9d0b36-6a3c-4f6e-9a57-3c1f4c3e8a10"


def sample_scan_id(station: str, seq: int) -> str:
    """A UUID-shaped scan id, the same for the same station and seq, unique across both."""
    h = hashlib.sha256(station.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-8{h[17:20]}-{seq:012x}"


def sample_journal(station: str) -> str:
    """The journal id sample records of `station` carry unless told otherwise (stable)."""
    return hashlib.sha256(f"journal:{station}".encode()).hexdigest()[:32]


def sample_record(
    station: str = "st-test-01", seq: int = 1, prev: str = GENESIS, **changes: Any
) -> ScanRecord:
    """A realistic accepted scan (schema 2): the same for the same station, seq and changes, so
    every test, bench and demo agrees on what "the same record" is. `changes` replace any field
    (journal: the station's sample journal unless given)."""
    record = ScanRecord(
        station=station,
        journal=sample_journal(station),
        seq=seq,
        scan_id=sample_scan_id(station, seq),
        employee=f"EMP-{seq % 810:05d}",
        serial=seq % 810 + 1,
        outcome=Outcome.ACCEPTED,
        reason=Reason.OK,
        direction="in" if seq % 2 else "out",
        payload_sha256="ab" * 16,
        payload_len=151,
        wall_ms=T0_MS + seq * 1000,
        mono_ns=seq * 10**9,
        boot_id=SAMPLE_BOOT_ID,
        clock_synced=seq % 3 != 0,
        clock_last_sync_ms=T0_MS if seq % 3 else None,
        location="pool-a",
        config_version=1,
        prev_hash=prev,
    )
    return msgspec.structs.replace(record, **changes) if changes else record


def sample_draft(i: int = 1, **changes: Any) -> ScanRecord:
    """Scan number `i` as the decider makes it: no station, seq or chain hash yet (the journal
    gives those when it appends it)."""
    return sample_record("", 0, "", **{"scan_id": sample_scan_id("", i), **_varying(i), **changes})


def _varying(i: int) -> dict[str, Any]:
    return {
        "employee": f"EMP-{i % 810:05d}",
        "serial": i % 810 + 1,
        "direction": "in" if i % 2 else "out",
        "wall_ms": T0_MS + i * 1000,
        "mono_ns": i * 10**9,
    }


@cache
def sample_chain(
    station: str, n: int, first: int = 1, prev: str = GENESIS, journal: str | None = None
) -> tuple[ScanRecord, ...]:
    """Records first..first+n-1 of a station's journal (its sample journal by default), each
    holding the hash of the one before."""
    journal = sample_journal(station) if journal is None else journal
    out: list[ScanRecord] = []
    for seq in range(first, first + n):
        out.append(sample_record(station, seq, prev, journal=journal))
        prev = out[-1].digest()
    return tuple(out)
