from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import msgspec
import pytest

from presensi.device.errors import JournalCorrupt, JournalError, JournalUnavailable
from presensi.device.journal import AckOutcome, Journal, open_or_recover
from presensi.device.testbed import sample_chain, sample_draft
from presensi.protocol.record import (
    GENESIS,
    LEGACY_JOURNAL,
    ScanRecord,
    decode_record,
    verify_chain,
)
from tests.device.conftest import remount, tmpfs

DAY = 86_400_000


def ack(journal: Journal, upto: int, journal_id: str | None = None) -> AckOutcome:
    """The hub's ack for records this file holds: the right journal and the right hash."""
    jid = journal.journal_id if journal_id is None else journal_id
    return journal.ack(jid, upto, journal.hash_of(upto, journal=jid) or "")


def test_append_assigns_contiguous_seq_and_chain(journal: Journal) -> None:
    records = [journal.append(sample_draft(employee=f"E{i}")) for i in range(5)]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert all(r.station == "st-1" for r in records)
    assert verify_chain(journal.records(), GENESIS, 1) == records[-1].digest()


def test_reopen_continues_sequence_and_chain(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    j.append(sample_draft())
    last = j.append(sample_draft())
    j.close()
    j = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    nxt = j.append(sample_draft())
    assert (nxt.seq, nxt.prev_hash) == (3, last.digest())
    j.close()


def test_wal_and_full_sync_are_on(journal: Journal) -> None:
    db = journal._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_new_journal_gets_a_random_id_that_every_record_carries(tmp_path: Path) -> None:
    first = Journal(tmp_path / "a.db", "st-1", min_free_bytes=1)
    second = Journal(tmp_path / "b.db", "st-1", min_free_bytes=1)
    assert first.journal_id != second.journal_id != LEGACY_JOURNAL
    assert len(first.journal_id) == 32 and int(first.journal_id, 16) >= 0
    record = first.append(sample_draft())
    assert (record.v, record.journal, record.seq) == (2, first.journal_id, 1)
    assert decode_record(record.canonical()) == record
    first.close()
    second.close()


def test_ack_moves_the_mark_forward_only(journal: Journal) -> None:
    for _ in range(3):
        journal.append(sample_draft())
    assert ack(journal, 2) is AckOutcome.ACKED
    assert ack(journal, 1) is AckOutcome.ALREADY
    assert journal.acked_upto == 2
    assert [r.seq for r in journal.unacked()] == [3]
    assert ack(journal, 3) is AckOutcome.ACKED
    assert journal.acked_upto == 3 and journal.unacked() == []


def test_an_ack_never_speaks_for_records_the_file_does_not_hold(journal: Journal) -> None:
    for _ in range(3):
        journal.append(sample_draft())
    # the hub holds more of this journal than this file: a restored or cloned card
    assert journal.ack(journal.journal_id, 99, "ab" * 32) is AckOutcome.AHEAD
    # the hub's record 2 is not this file's record 2: another history of the journal
    assert journal.ack(journal.journal_id, 2, "cd" * 32) is AckOutcome.MISMATCH
    # a journal this file never had
    assert journal.ack("1" * 32, 2, journal.hash_of(2) or "") is AckOutcome.UNKNOWN
    assert journal.acked_upto == 0 and len(journal.unacked()) == 3


def test_rotate_retires_the_journal_and_keeps_its_records(journal: Journal) -> None:
    old = journal.journal_id
    kept = [journal.append(sample_draft()) for _ in range(3)]
    new = journal.rotate("test")
    nxt = journal.append(sample_draft())
    assert new != old and (nxt.journal, nxt.seq, nxt.prev_hash) == (new, 1, GENESIS)
    infos = {i.id: i for i in journal.journals()}
    assert infos[old].retired_why == "test" and infos[old].unacked == 3
    assert infos[new].retired_ms is None and infos[new].newest_seq == 1
    assert list(journal.records(journal=old)) == kept
    # the old journal is acked as before; everything is delivered only when both are
    assert ack(journal, 3, old) is AckOutcome.ACKED
    assert not journal.all_acked()
    assert ack(journal, 1) is AckOutcome.ACKED and journal.all_acked()


def test_a_rotation_by_another_connection_takes_the_next_scan(tmp_path: Path) -> None:
    scan_loop = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    uplink = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    first = scan_loop.append(sample_draft())
    new = uplink.rotate("hub ahead")
    after = scan_loop.append(sample_draft())
    assert first.journal != new and (after.journal, after.seq) == (new, 1)
    scan_loop.close()
    uplink.close()


def _v1(record: ScanRecord, prev: str) -> ScanRecord:
    return msgspec.structs.replace(record, v=1, journal=LEGACY_JOURNAL, prev_hash=prev)


def test_a_schema_1_file_keeps_its_records_as_the_legacy_journal(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1 = list(sample_chain("st-1", 4, journal=LEGACY_JOURNAL))
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, wall_ms INTEGER NOT NULL, "
        "hash BLOB NOT NULL, body BLOB NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    )
    prev = GENESIS
    for sample in v1:
        record = _v1(sample, prev)
        db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?)",
            (record.seq, record.wall_ms, bytes.fromhex(record.digest()), record.canonical()),
        )
        prev = record.digest()
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("station", "st-1"), ("acked_upto", 2), ("base_seq", 0), ("base_hash", GENESIS)],
    )
    db.commit()
    db.close()
    journal = Journal(path, "st-1", min_free_bytes=1)
    legacy = journal.journal_named(LEGACY_JOURNAL)
    assert legacy is not None and (legacy.acked_upto, legacy.newest_seq) == (2, 4)
    assert legacy.retired_why == "upgrade"
    old = list(journal.records(journal=LEGACY_JOURNAL))
    assert [r.v for r in old] == [1, 1, 1, 1]
    assert verify_chain(old, GENESIS, 1) == prev  # byte for byte what schema 1 wrote
    nxt = journal.append(sample_draft())
    assert nxt.journal not in (LEGACY_JOURNAL, "") and nxt.seq == 1
    journal.close()


def test_purge_removes_only_acked_records_older_than_retention(journal: Journal) -> None:
    now = 1_790_000_000_000
    for age_days in (10, 9, 8, 1, 0):
        journal.append(sample_draft(wall_ms=now - age_days * DAY))
    ack(journal, 4)
    # retention 5 days: records 1-3 are old enough and acked; 4 is acked but young
    assert journal.purge(5, now) == 3
    assert [r.seq for r in journal.records()] == [4, 5]
    ack(journal, 5)
    assert journal.purge(5, now + 30 * DAY) == 2
    assert journal.count() == 0
    # the chain continues across a purge, and unacked records are never purged
    nxt = journal.append(sample_draft(wall_ms=now - 100 * DAY))
    assert nxt.seq == 6 and journal.base[0] == 5
    assert journal.purge(1, now) == 0


def test_purge_keeps_unacked_even_when_ancient(journal: Journal) -> None:
    journal.append(sample_draft(wall_ms=0))
    assert journal.purge(1, 10 * DAY) == 0 and journal.count() == 1


def test_nearly_full_disk_refuses_and_stores_nothing(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1 << 62)
    with pytest.raises(JournalError, match="free"):
        j.append(sample_draft())
    assert j.count() == 0 and j.last_seq == 0
    j.close()


def test_failed_write_raises_and_keeps_state(journal: Journal) -> None:
    journal.append(sample_draft())
    journal._db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'io'); END"
    )
    with pytest.raises(JournalError, match="cannot store"):
        journal.append(sample_draft())
    journal._db.execute("DROP TRIGGER fail")
    assert journal.append(sample_draft()).seq == 2


def test_journal_of_another_station_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db", "st-1", min_free_bytes=1).close()
    with pytest.raises(JournalError, match="belongs to station 'st-1'"):
        Journal(tmp_path / "j.db", "st-2", min_free_bytes=1)


def test_garbage_file_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(JournalCorrupt):
        Journal(path, "st-1", min_free_bytes=1)
    journal, aside = open_or_recover(path, "st-1", min_free_bytes=1)
    assert aside is not None and aside.stat().st_size == 8192
    assert journal.append(sample_draft()).seq == 1
    journal.close()


def test_a_corrupt_file_is_moved_aside_and_a_new_journal_starts(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal(path, "st-1", min_free_bytes=1)
    for _ in range(200):
        j.append(sample_draft(employee="E" * 30))
    j._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    j.close()
    # damage a page in the middle of the records table, its b-tree page header included
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3 : page * 3 + 400] = os.urandom(400)
    path.write_bytes(bytes(data))
    old_id = _journal_id_in(path)
    journal, aside = open_or_recover(path, "st-1", min_free_bytes=1)
    assert aside is not None and aside.exists()
    nxt = journal.append(sample_draft())
    # a new journal: seq 1 again, under another id, so no (journal, seq) is ever reused
    assert (nxt.seq, nxt.prev_hash) == (1, GENESIS) and nxt.journal != old_id
    journal.close()


def test_integrity_check_runs_on_a_healthy_file(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db", "st-1", min_free_bytes=1)
    j.append(sample_draft())
    j.close()
    db = sqlite3.connect(tmp_path / "j.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    journal, aside = open_or_recover(tmp_path / "j.db", "st-1", min_free_bytes=1)
    assert aside is None and journal.last_seq == 1
    journal.close()


def test_recent_walks_back_from_the_tail(journal: Journal) -> None:
    for t in (100, 200, 300, 400):
        journal.append(sample_draft(wall_ms=t))
    assert [r.wall_ms for r in journal.recent(250)] == [300, 400]


def _journal_id_in(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("SELECT id FROM journals").fetchone()[0])
    finally:
        db.close()


def test_a_read_only_folder_is_unavailable_not_corrupt(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as folder:
        journal = Journal(folder / "j.db", "st-1", min_free_bytes=1)
        journal.append(sample_draft())
        journal.close()
        remount(folder, "ro")
        with pytest.raises(JournalUnavailable, match="cannot open the journal for writing"):
            open_or_recover(folder / "j.db", "st-1", min_free_bytes=1)
        assert sorted(p.name for p in folder.iterdir()) == ["j.db"]  # nothing moved aside
