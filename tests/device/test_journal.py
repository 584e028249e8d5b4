from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from presensi.device.errors import JournalCorrupt, JournalError
from presensi.device.journal import Journal, open_or_recover
from presensi.device.testbed import sample_draft
from presensi.protocol.record import GENESIS, verify_chain

DAY = 86_400_000


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


def test_ack_moves_the_mark_forward_only_and_not_past_the_end(journal: Journal) -> None:
    for _ in range(3):
        journal.append(sample_draft())
    journal.ack(2)
    journal.ack(1)
    assert journal.acked_upto == 2
    assert [r.seq for r in journal.unacked()] == [3]
    journal.ack(99)
    assert journal.acked_upto == 3 and journal.unacked() == []


def test_purge_removes_only_acked_records_older_than_retention(journal: Journal) -> None:
    now = 1_790_000_000_000
    for age_days in (10, 9, 8, 1, 0):
        journal.append(sample_draft(wall_ms=now - age_days * DAY))
    journal.ack(4)
    # retention 5 days: records 1-3 are old enough and acked; 4 is acked but young
    assert journal.purge(5, now) == 3
    assert [r.seq for r in journal.records()] == [4, 5]
    journal.ack(5)
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


def test_corrupt_journal_continues_after_the_last_readable_seq(tmp_path: Path) -> None:
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
    journal, aside = open_or_recover(path, "st-1", min_free_bytes=1)
    assert aside is not None and aside.exists()
    nxt = journal.append(sample_draft())
    assert nxt.seq > 200, "a seq must never be reused after recovery"
    assert journal.unacked()[0].seq == nxt.seq
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
