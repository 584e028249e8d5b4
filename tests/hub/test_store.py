"""The hub's store, over SQLite and PostgreSQL alike: the `store` fixture runs each test on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from presensi.device.testbed import T0_MS as T0
from presensi.device.testbed import sample_chain as chain
from presensi.device.testbed import sample_journal
from presensi.hub import migrations
from presensi.hub.errors import StoreError
from presensi.hub.store import (
    CHAIN_BREAK,
    CONFLICTING_DUPLICATE,
    REJECT_PAYLOAD_MAX,
    Committed,
    IngestResult,
    SqlStore,
    StationInfo,
    Store,
    open_store,
    sqlite_path,
)
from presensi.protocol.record import LEGACY_JOURNAL, ScanRecord
from presensi.protocol.wire import Batch, JournalState, batch_of

from .conftest import OpenStore

NOW = T0 + 60_000
KEY = bytes(range(32))
OTHER_JOURNAL = "1" * 32


def seqs(station: str, first: int, last: int, journal: str | None = None) -> list[ScanRecord]:
    """Records first..last of the station's one true chain (of its sample journal)."""
    return list(chain(station, last, journal=journal)[first - 1 : last])


def batch(records: list[ScanRecord], station: str | None = None) -> Batch:
    station = station or records[0].station
    return batch_of(station, records[0].journal if records else sample_journal(station), records)


def ingest(store: Store, *batches: Batch) -> IngestResult:
    return store.ingest(list(batches), NOW)


def other_scan(record: ScanRecord, prev: str, **changes: object) -> ScanRecord:
    """Another scan at the same seq of the same journal: what a restored or cloned card writes."""
    return msgspec.structs.replace(
        record, scan_id=f"ffffffff-0000-7000-8000-{record.seq:012x}", prev_hash=prev, **changes
    )


def branch(records: list[ScanRecord], prev: str, employee: str = "EMP-99999") -> list[ScanRecord]:
    """The same seqs as `records`, as another history from `prev` on."""
    out = []
    for record in records:
        out.append(other_scan(record, prev, employee=employee))
        prev = out[-1].digest()
    return out


def spread(records: list[ScanRecord], step_ms: int, *, start: int = T0) -> list[ScanRecord]:
    """The records re-chained with scans `step_ms` apart from `start`."""
    out: list[ScanRecord] = []
    prev = records[0].prev_hash
    for record in records:
        wall = start + record.seq * step_ms
        out.append(msgspec.structs.replace(record, wall_ms=wall, prev_hash=prev))
        prev = out[-1].digest()
    return out


# -- exactly once ----------------------------------------------------------------------------


def test_reingesting_the_same_batch_changes_nothing(store: SqlStore) -> None:
    records = seqs("st-1", 1, 10)
    b = batch(records)
    first = ingest(store, b)
    assert (first.inserted, first.duplicates, first.conflicts) == (10, 0, [])
    [ack] = first.acks
    assert ack == Committed("st-1", sample_journal("st-1"), 10, records[-1].digest(), False)
    again = ingest(store, b)
    assert (again.inserted, again.duplicates, again.acks) == (0, 10, [ack])
    assert store.count_scans("st-1") == 10
    assert store.committed_upto("st-1") == 10


def test_repeats_within_one_call_are_duplicates(store: SqlStore) -> None:
    b = batch(seqs("st-1", 1, 5))
    result = ingest(store, b, b, batch(seqs("st-1", 4, 6)))
    assert (result.inserted, result.duplicates, result.committed) == (6, 7, {"st-1": 6})


def test_out_of_order_batches_commit_once_the_prefix_is_whole(store: SqlStore) -> None:
    assert ingest(store, batch(seqs("st-1", 11, 20))).committed == {}  # nothing to ack yet
    assert store.committed_upto("st-1") == 0
    # 1..20 are committed, but the ack never goes past what the station sent in this call:
    # it holds 11..20 too, and gets them acked when it sends them again
    assert ingest(store, batch(seqs("st-1", 1, 10))).committed == {"st-1": 10}
    assert store.committed_upto("st-1") == 20
    assert ingest(store, batch(seqs("st-1", 11, 20))).committed == {"st-1": 20}
    assert store.rejects() == [] and store.alerts() == []


def test_a_gap_holds_the_mark_until_it_fills(store: SqlStore) -> None:
    assert ingest(store, batch(seqs("st-1", 1, 10)), batch(seqs("st-1", 21, 30))).committed == {
        "st-1": 10
    }
    assert ingest(store, batch(seqs("st-1", 31, 35))).committed == {"st-1": 10}
    assert ingest(store, batch(seqs("st-1", 11, 20))).committed == {"st-1": 20}
    assert store.committed_upto("st-1") == 35
    assert store.count_scans("st-1") == 35


def test_filling_the_first_hole_advances_over_everything_stored_above(store: SqlStore) -> None:
    for first in range(2, 3001, 1000):
        assert ingest(store, batch(seqs("st-1", first, min(first + 999, 3000)))).committed == {}
    assert ingest(store, batch(seqs("st-1", 1, 1))).committed == {"st-1": 1}
    assert store.committed_upto("st-1") == 3000
    assert store.rejects() == []


def test_stations_in_one_call_advance_independently(store: SqlStore) -> None:
    result = ingest(
        store,
        batch(seqs("st-b", 1, 3)),
        batch(seqs("st-a", 2, 4)),
        batch(seqs("st-c", 1, 1)),
    )
    assert result.committed == {"st-b": 3, "st-c": 1}
    assert result.inserted == 7
    assert store.count_scans() == 7
    assert store.count_scans("st-a") == 3


def test_a_schema_1_record_goes_to_the_legacy_journal(store: SqlStore) -> None:
    v1 = [
        msgspec.structs.replace(r, v=1, journal=LEGACY_JOURNAL)
        for r in chain("st-1", 3, journal=LEGACY_JOURNAL)
    ]
    result = ingest(store, Batch(1, "st-1", v1))
    assert result.acks == [Committed("st-1", LEGACY_JOURNAL, 3, v1[-1].digest(), False)]
    assert store.scans("st-1") == v1
    assert [r.canonical() for r in store.scans("st-1")] == [r.canonical() for r in v1]


# -- journals: replaced, restored and cloned cards -------------------------------------------


def test_a_new_journal_under_a_known_station_is_kept_beside_the_old(store: SqlStore) -> None:
    old = seqs("st-1", 1, 20)
    ingest(store, batch(old))
    store.report_journals("st-1", {old[0].journal: JournalState(25, 20)}, NOW)
    # the card was replaced an hour later: seq 1 again, under another journal
    fresh = spread(seqs("st-1", 1, 5, journal=OTHER_JOURNAL), 1000, start=T0 + 3_600_000)
    result = ingest(store, batch(fresh))
    assert result.acks == [Committed("st-1", OTHER_JOURNAL, 5, fresh[-1].digest(), False)]
    assert store.count_scans("st-1") == 25
    assert store.committed_upto("st-1") == 5  # the newest journal
    assert store.committed_upto("st-1", old[0].journal) == 20
    [alert] = store.alerts()
    assert (alert.kind, alert.station, alert.journal) == ("journal_new", "st-1", OTHER_JOURNAL)
    assert "committed 20 of 25 it reported (5 never arrived)" in alert.detail
    [row] = store.stations()
    assert (row.journals, row.journal, row.committed_upto, row.unsent) == (2, OTHER_JOURNAL, 5, 5)
    assert store.rejects() == []


def test_a_restored_card_that_scanned_offline_is_kept_as_a_branch(store: SqlStore) -> None:
    original = seqs("st-1", 1, 10)
    ingest(store, batch(original))
    # the image held 1..6; after the restore it scanned twice before it reached the hub
    after_restore = branch(seqs("st-1", 7, 8), prev=original[5].digest())
    result = ingest(store, batch([*original[4:6], *after_restore]))
    assert (result.inserted, result.duplicates, result.branches) == (2, 2, 1)
    # the ack speaks for the restored card's own records, and says they are a branch
    assert result.acks == [
        Committed("st-1", original[0].journal, 8, after_restore[-1].digest(), True)
    ]
    assert store.count_scans("st-1") == 12  # nothing lost, nothing merged
    assert store.committed_upto("st-1") == 10  # the first history is untouched
    forks = {(j.fork, j.fork_seq, j.committed_upto) for j in store.journals("st-1")}
    assert forks == {(0, 1, 10), (1, 7, 8)}
    assert [a.kind for a in store.alerts()] == ["journal_fork"]
    # the branch goes on past where the first history ends, by its chain
    more = branch(seqs("st-1", 9, 12), prev=after_restore[-1].digest(), employee="EMP-88888")
    again = ingest(store, batch(more))
    assert again.acks[0].upto == 12 and again.acks[0].forked
    assert store.committed_upto("st-1") == 10 and store.count_scans("st-1") == 16


def test_a_cloned_card_scanning_at_the_same_time_is_kept_and_raised(store: SqlStore) -> None:
    a = spread(seqs("st-1", 1, 30), 20_000)  # a scan every 20 s for 10 minutes
    b = branch(a, prev=a[0].prev_hash)  # a clone of the same empty journal, scanning too
    for i in range(0, 30, 10):  # both deliver, interleaved
        ingest(store, batch(a[i : i + 10]))
        result = ingest(store, batch(b[i : i + 10]))
        assert result.acks[0].forked and result.acks[0].upto == i + 10
    assert store.count_scans("st-1") == 60
    kinds = sorted(a.kind for a in store.alerts())
    assert kinds == ["journal_fork", "two_live_journals"]
    assert store.rejects() == []


def test_an_edited_record_keeps_the_first_and_raises_an_alert(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 1, 5)))
    original = seqs("st-1", 3, 3)[0]
    edited = msgspec.structs.replace(original, employee="E2")  # same scan, other employee
    result = ingest(store, batch([edited]))
    assert (result.inserted, result.conflicts) == (0, [("st-1", original.journal, 3)])
    assert result.acks == []
    assert store.scans("st-1", 3, 3) == [original]  # the first one is kept
    [reject] = store.rejects()
    assert (reject.reason, reject.station, reject.seq) == (CONFLICTING_DUPLICATE, "st-1", 3)
    assert reject.topic == "presensi/v1/stations/st-1/scans"
    assert reject.payload == edited.canonical()
    [alert] = store.alerts()
    assert alert.kind == "conflicting_duplicate" and "kept the stored one" in alert.detail


def test_an_edit_within_one_call_keeps_the_first(store: SqlStore) -> None:
    records = seqs("st-1", 1, 3)
    edited = msgspec.structs.replace(records[1], employee="E9")
    result = ingest(store, batch(records), batch([edited]))
    assert (result.inserted, result.conflicts) == (3, [("st-1", records[0].journal, 2)])
    assert result.committed == {"st-1": 3}
    assert store.scans("st-1") == records


def test_a_broken_hash_chain_is_reported_and_the_mark_still_advances(store: SqlStore) -> None:
    good = seqs("st-1", 1, 5)
    broken = list(chain("st-1", 5, first=6, prev="f" * 64))  # seq 6 does not follow seq 5
    assert ingest(store, batch(good)).committed == {"st-1": 5}
    assert ingest(store, batch(broken)).committed == {"st-1": 10}
    [reject] = store.rejects()
    assert (reject.reason, reject.station, reject.seq) == (CHAIN_BREAK, "st-1", 6)
    assert reject.detail is not None and "seq 6" in reject.detail
    assert reject.payload == broken[0].canonical()
    assert store.count_scans("st-1") == 10
    assert [a.kind for a in store.alerts()] == ["chain_break"]


def test_a_break_found_when_a_hole_fills_is_reported_once(store: SqlStore) -> None:
    good = seqs("st-1", 1, 5)
    broken = list(chain("st-1", 5, first=6, prev="f" * 64))
    ingest(store, batch(broken))  # 6..10 first: their predecessor is not there yet
    ingest(store, batch(good))
    assert [(r.reason, r.seq) for r in store.rejects()] == [(CHAIN_BREAK, 6)]
    assert store.committed_upto("st-1") == 10


def test_the_first_record_must_follow_genesis(store: SqlStore) -> None:
    stray = list(chain("st-1", 2, prev="e" * 64))
    assert ingest(store, batch(stray)).committed == {"st-1": 2}
    assert [(r.reason, r.seq) for r in store.rejects()] == [(CHAIN_BREAK, 1)]


def test_acks_come_oldest_journal_first(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 1, 2)))
    ingest(store, batch(seqs("st-1", 1, 2, journal=OTHER_JOURNAL)))
    both = ingest(
        store, batch(seqs("st-1", 1, 2, journal=OTHER_JOURNAL)), batch(seqs("st-1", 1, 2))
    )
    assert [a.journal for a in both.acks] == [sample_journal("st-1"), OTHER_JOURNAL]


# -- concurrency -----------------------------------------------------------------------------


def test_two_workers_ingesting_overlapping_batches_store_each_record_once(
    open_stores: OpenStore,
) -> None:
    first, second, watcher = open_stores(), open_stores(), open_stores()
    first.migrate()
    stations, n = ("st-a", "st-b"), 600
    # overlapping windows (15 new + 5 already sent), the stations mixed in every call
    windows = [batch(seqs(s, i, min(i + 19, n))) for i in range(1, n + 1, 15) for s in stations]
    calls = [windows[i : i + 3] for i in range(0, len(windows), 3)]
    plans = {first: calls, second: calls[::-1]}  # one worker forwards, the other backwards
    marks: dict[str, list[int]] = {s: [] for s in stations}  # as a third process sees them
    start, done = threading.Barrier(2, timeout=30), threading.Event()

    def work(store: SqlStore) -> list[IngestResult]:
        start.wait()
        return [store.ingest(call, NOW) for call in plans[store]]

    def watch() -> None:
        while not done.is_set():
            for station in stations:
                marks[station].append(watcher.committed_upto(station))

    observer = threading.Thread(target=watch)
    observer.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(work, store) for store in plans]
            results = [result for run in runs for result in run.result(timeout=60)]
    finally:
        done.set()
        observer.join(10)
    sent = 2 * sum(len(b.records) for b in windows)
    assert sum(r.inserted for r in results) == 2 * n
    assert sum(r.duplicates for r in results) == sent - 2 * n
    assert all(not r.conflicts for r in results)
    for station in stations:
        assert marks[station] == sorted(marks[station]), "a committed mark went backwards"
        assert first.committed_upto(station) == n
        assert second.count_scans(station) == n
    assert first.rejects() == []


def test_workers_starting_together_migrate_once(open_stores: OpenStore) -> None:
    stores = [open_stores() for _ in range(3)]
    with ThreadPoolExecutor(len(stores)) as pool:
        for run in [pool.submit(store.migrate) for store in stores]:
            run.result(timeout=30)
    assert all(s.schema_version() == migrations.LATEST for s in stores)


# -- schema ----------------------------------------------------------------------------------


def test_a_fresh_store_starts_at_the_latest_schema_and_migrate_is_idempotent(
    store: SqlStore,
) -> None:
    assert store.schema_version() == migrations.LATEST
    assert migrations.migrate(store.database) == []
    store.migrate()
    assert store.schema_version() == migrations.LATEST
    assert (store.count_scans(), store.stations(), store.rejects(), store.alerts()) == (
        0,
        [],
        [],
        [],
    )


def test_migrate_applies_only_what_is_missing(open_stores: OpenStore) -> None:
    store = open_stores()
    assert store.schema_version() == 0
    assert migrations.migrate(store.database, migrations.MIGRATIONS[:2]) == [1, 2]
    assert store.schema_version() == 2
    # what a hub of schema 2 held: one chain per station, schema 1 records
    v1 = [
        msgspec.structs.replace(r, v=1, journal=LEGACY_JOURNAL)
        for r in chain("st-1", 3, journal=LEGACY_JOURNAL)
    ]
    db = store.database
    with db.transaction():
        db.execute(
            "INSERT INTO stations (id, committed_upto, committed_hash) VALUES (?, ?, ?)",
            ("st-1", 3, v1[-1].digest()),
        )
        for r in v1:
            db.execute(
                "INSERT INTO scans (station, seq, scan_id, employee, serial, outcome, reason, "
                "direction, event, wall_ms, location, clock_synced, prev_hash, hash, body, "
                "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.station,
                    r.seq,
                    r.scan_id,
                    r.employee,
                    r.serial,
                    str(r.outcome),
                    str(r.reason),
                    r.direction,
                    r.event,
                    r.wall_ms,
                    r.location,
                    r.clock_synced,
                    r.prev_hash,
                    r.digest(),
                    r.canonical().decode(),
                    NOW,
                ),
            )
    assert migrations.migrate(store.database) == [m.version for m in migrations.MIGRATIONS[2:]]
    assert store.schema_version() == migrations.LATEST
    assert store.committed_upto("st-1", LEGACY_JOURNAL) == 3
    assert store.scans("st-1") == v1
    # and the legacy journal goes on where it was
    nxt = msgspec.structs.replace(
        chain("st-1", 4, journal=LEGACY_JOURNAL)[3], v=1, prev_hash=v1[-1].digest()
    )
    assert ingest(store, Batch(1, "st-1", [nxt])).committed == {"st-1": 4}


def test_a_store_reopened_keeps_everything(open_stores: OpenStore, store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 1, 4)))
    store.close()
    reopened = open_stores()
    reopened.migrate()
    assert reopened.committed_upto("st-1") == 4
    assert reopened.scans("st-1") == seqs("st-1", 1, 4)


# -- rejects, registry, status ---------------------------------------------------------------


def test_rejects_keep_at_most_2_kb_of_payload(store: SqlStore) -> None:
    big = bytes(range(256)) * 20
    store.reject(NOW, "presensi/v1/stations/st-1/scans", "st-1", "bad signature", big)
    store.reject(NOW + 1, "garbage/topic", None, "not a station topic", b"x")
    newest, oldest = store.rejects()
    assert (newest.topic, newest.station, newest.payload, newest.payload_len) == (
        "garbage/topic",
        None,
        b"x",
        1,
    )
    assert oldest.payload == big[:REJECT_PAYLOAD_MAX]
    assert (oldest.payload_len, oldest.reason, oldest.received_ms) == (
        len(big),
        "bad signature",
        NOW,
    )
    assert [r.topic for r in store.rejects(limit=1)] == ["garbage/topic"]


def test_station_registration_and_keys(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-2", 1, 2)))  # an unknown station's row exists, without a key
    store.register_station(StationInfo("st-1", KEY, "pool-a"))
    assert store.station_keys() == {"st-1": KEY}
    new_key = bytes(32)
    store.register_station(StationInfo("st-1", new_key, "terminal-b"))
    store.register_station(StationInfo("st-2", KEY, "pool-c"))
    assert store.station_keys() == {"st-1": new_key, "st-2": KEY}
    rows = {row.id: row for row in store.stations()}
    assert (rows["st-1"].location, rows["st-1"].registered) == ("terminal-b", True)
    assert (rows["st-2"].location, rows["st-2"].committed_upto) == ("pool-c", 2)
    with pytest.raises(StoreError, match="32 raw bytes"):
        store.register_station(StationInfo("st-3", KEY[:31], "x"))
    with pytest.raises(StoreError, match="not a valid station id"):
        store.register_station(StationInfo("St 3", KEY, "x"))


def test_station_status_and_fleet_rows(store: SqlStore) -> None:
    store.register_station(StationInfo("st-1", KEY, "pool-a"))
    ingest(store, batch(seqs("st-1", 1, 4)))
    store.update_station_status(
        "st-1",
        online=True,
        last_seen_ms=NOW + 5,
        backlog=7,
        clock_synced=False,
        clock_offset_ms=-1200,
        version="0.1.0",
        boot_id="boot-1",
    )
    store.update_station_status("st-1", backlog=0, version=None)  # None: left as it was
    store.update_station_status("st-9", online=False)  # status before any scan: a row appears
    [row, other] = store.stations()
    assert row.id == "st-1" and row.location == "pool-a" and row.registered
    assert row.online is True and row.last_seen_ms == NOW + 5
    assert (row.committed_upto, row.backlog, row.clock_synced, row.clock_offset_ms) == (
        4,
        0,
        False,
        -1200,
    )
    assert (row.version, row.boot_id, row.last_scan_ms) == ("0.1.0", "boot-1", T0 + 4000)
    assert (other.id, other.online, other.registered, other.clock_synced) == (
        "st-9",
        False,
        False,
        None,
    )
    with pytest.raises(StoreError, match="unknown station status fields: colour"):
        store.update_station_status("st-1", colour="red")  # type: ignore[call-arg]


# -- reading back ----------------------------------------------------------------------------


def test_scans_round_trip_exactly(store: SqlStore) -> None:
    sent = seqs("st-1", 1, 12)
    ingest(store, batch(sent[6:]), batch(sent[:6]))
    back = store.scans("st-1")
    assert back == sent
    assert [r.canonical() for r in back] == [r.canonical() for r in sent]
    assert [r.digest() for r in back] == [r.digest() for r in sent]
    assert store.scans("st-1", 5, 7) == sent[4:7]
    assert store.scans("st-1", 11) == sent[10:]
    assert store.scans("st-2") == []
    assert store.committed_upto("st-2") == 0


# -- opening ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/demo/hub.db", "data/demo/hub.db"),  # relative, as in SQLAlchemy
        ("sqlite:////var/lib/presensi/hub.db", "/var/lib/presensi/hub.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("/srv/hub.db", "/srv/hub.db"),
        ("hub.db", "hub.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_an_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown store URL"):
        sqlite_path("mysql://hub")


@pytest.mark.parametrize("url", ["sqlite://hub.db", "sqlite:///", ""])
def test_a_url_that_names_no_file_is_refused_with_the_forms_that_work(url: str) -> None:
    with pytest.raises(StoreError, match=r"sqlite:///data/hub.db \(relative"):
        sqlite_path(url)


def test_a_relative_sqlite_url_is_under_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/hub.db")
    try:
        store.migrate()
    finally:
        store.close()
    assert (tmp_path / "data" / "hub.db").is_file()


def test_an_in_memory_store_works_and_an_empty_call_is_a_no_op() -> None:
    store = open_store("sqlite://")
    try:
        store.migrate()
        assert store.ingest([], NOW) == IngestResult([], 0, 0)
        assert ingest(store, batch(seqs("st-1", 1, 2))).committed == {"st-1": 2}
    finally:
        store.close()


def test_an_unreachable_postgres_is_a_store_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/presensi?connect_timeout=2")


# -- time ------------------------------------------------------------------------------------


def test_unsynced_times_are_corrected_from_a_synced_scan_of_the_same_boot(
    store: SqlStore,
) -> None:
    # a station booted offline with its clock two days behind: three scans unsynced, then NTP
    # set the clock and two more were synced; all five in one boot (monotonic ms 1000..5000)
    behind = 2 * 24 * 3_600_000
    records: list[ScanRecord] = []
    prev = chain("st-1", 1)[0].prev_hash
    for i in range(1, 6):
        synced = i >= 4
        record = msgspec.structs.replace(
            seqs("st-1", i, i)[0],
            boot_id="boot-a",
            mono_ns=i * 1000 * 1_000_000,
            wall_ms=T0 + i * 1000 - (0 if synced else behind),
            clock_synced=synced,
            prev_hash=prev,
        )
        records.append(record)
        prev = record.digest()
    ingest(store, batch(records[:3]))  # the unsynced ones arrive first: nothing to go by yet
    assert all(c is None for _, c in store.scan_times("st-1").values())
    ingest(store, batch(records[3:]))
    times = store.scan_times("st-1")
    for r in records:
        wall, corrected = times[r.scan_id]
        assert wall == r.wall_ms  # what the station's clock said stays on record
        assert corrected == (None if r.clock_synced else T0 + r.seq * 1000)
