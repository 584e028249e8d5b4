"""The hub's store, over SQLite and PostgreSQL alike: the `store` fixture runs each test on both."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from presensi.device.testbed import T0_MS as T0
from presensi.device.testbed import sample_chain as chain
from presensi.hub import migrations
from presensi.hub.errors import StoreError
from presensi.hub.store import (
    CHAIN_BREAK,
    CONFLICTING_DUPLICATE,
    REJECT_PAYLOAD_MAX,
    IngestResult,
    SqlStore,
    StationInfo,
    Store,
    open_store,
    sqlite_path,
)
from presensi.protocol.record import ScanRecord
from presensi.protocol.wire import Batch

from .conftest import OpenStore

NOW = T0 + 60_000
KEY = bytes(range(32))


def seqs(station: str, first: int, last: int) -> list[ScanRecord]:
    """Records first..last of the station's one true chain."""
    return list(chain(station, last)[first - 1 : last])


def batch(records: list[ScanRecord], floor: int = 0, station: str | None = None) -> Batch:
    return Batch(1, station or records[0].station, floor, records)


def ingest(store: Store, *batches: Batch) -> IngestResult:
    return store.ingest(list(batches), NOW)


# -- exactly once ----------------------------------------------------------------------------


def test_reingesting_the_same_batch_changes_nothing(store: SqlStore) -> None:
    b = batch(seqs("st-1", 1, 10))
    first = ingest(store, b)
    assert first == IngestResult({"st-1": 10}, inserted=10, duplicates=0, conflicts=[])
    again = ingest(store, b)
    assert again == IngestResult({"st-1": 10}, inserted=0, duplicates=10, conflicts=[])
    assert store.count_scans("st-1") == 10
    assert store.committed_upto("st-1") == 10


def test_repeats_within_one_call_are_duplicates(store: SqlStore) -> None:
    b = batch(seqs("st-1", 1, 5))
    result = ingest(store, b, b, batch(seqs("st-1", 4, 6)))
    assert (result.inserted, result.duplicates, result.committed) == (6, 7, {"st-1": 6})


def test_out_of_order_batches_commit_once_the_prefix_is_whole(store: SqlStore) -> None:
    assert ingest(store, batch(seqs("st-1", 11, 20))).committed == {"st-1": 0}
    assert store.committed_upto("st-1") == 0
    assert ingest(store, batch(seqs("st-1", 1, 10))).committed == {"st-1": 20}
    assert store.gaps("st-1") == []
    assert store.rejects() == []


def test_a_gap_holds_the_mark_until_it_fills(store: SqlStore) -> None:
    assert ingest(store, batch(seqs("st-1", 1, 10)), batch(seqs("st-1", 21, 30))).committed == {
        "st-1": 10
    }
    assert ingest(store, batch(seqs("st-1", 31, 35))).committed == {"st-1": 10}
    assert ingest(store, batch(seqs("st-1", 11, 20))).committed == {"st-1": 35}
    assert store.count_scans("st-1") == 35


def test_filling_the_first_hole_advances_over_everything_stored_above(store: SqlStore) -> None:
    for first in range(2, 3001, 1000):
        assert ingest(store, batch(seqs("st-1", first, min(first + 999, 3000)))).committed == {
            "st-1": 0
        }
    assert ingest(store, batch(seqs("st-1", 1, 1))).committed == {"st-1": 3000}
    assert store.rejects() == []


def test_stations_in_one_call_advance_independently(store: SqlStore) -> None:
    result = ingest(
        store,
        batch(seqs("st-b", 1, 3)),
        batch(seqs("st-a", 2, 4)),
        batch(seqs("st-c", 1, 1)),
    )
    assert result.committed == {"st-a": 0, "st-b": 3, "st-c": 1}
    assert result.inserted == 7
    assert store.count_scans() == 7
    assert store.count_scans("st-a") == 3


# -- what a station declares lost ------------------------------------------------------------


def test_floor_declares_the_seqs_below_it_lost(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 1, 5)))
    # the station's journal was corrupt: it restarted its journal after seq 12
    result = ingest(store, batch(seqs("st-1", 13, 15), floor=12))
    assert result.committed == {"st-1": 15}
    assert store.gaps("st-1") == [(6, 12)]
    assert store.rejects() == []  # the chain is unknown across a declared gap, not broken
    # a record from inside the gap that turns up later is kept, and the mark stays
    assert ingest(store, batch(seqs("st-1", 8, 8))).committed == {"st-1": 15}
    assert store.count_scans("st-1") == 9


def test_a_floor_alone_moves_the_mark(store: SqlStore) -> None:
    result = ingest(store, Batch(1, "st-1", 3, []))
    assert result == IngestResult({"st-1": 3}, inserted=0, duplicates=0, conflicts=[])
    assert store.gaps("st-1") == [(1, 3)]
    assert ingest(store, Batch(1, "st-1", 2, [])).committed == {"st-1": 3}
    assert store.gaps("st-1") == [(1, 3)]


def test_floor_gaps_skip_the_records_that_are_stored(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 8, 8)))
    assert ingest(store, batch(seqs("st-1", 11, 12), floor=10)).committed == {"st-1": 12}
    assert store.gaps("st-1") == [(1, 7), (9, 10)]


# -- records that do not agree ---------------------------------------------------------------


def test_a_different_record_under_a_stored_seq_is_a_conflict(store: SqlStore) -> None:
    ingest(store, batch(seqs("st-1", 1, 5)))
    original = seqs("st-1", 3, 3)[0]
    forged = msgspec.structs.replace(original, employee="E2")
    result = ingest(store, batch([forged]))
    assert result == IngestResult({"st-1": 5}, inserted=0, duplicates=0, conflicts=[("st-1", 3)])
    assert store.scans("st-1", 3, 3) == [original]  # the first one is kept
    [reject] = store.rejects()
    assert (reject.reason, reject.station, reject.seq) == (CONFLICTING_DUPLICATE, "st-1", 3)
    assert reject.topic == "presensi/v1/stations/st-1/scans"
    assert reject.payload == forged.canonical()


def test_a_conflict_within_one_call_keeps_the_first(store: SqlStore) -> None:
    records = seqs("st-1", 1, 3)
    forged = msgspec.structs.replace(records[1], employee="E9")
    result = ingest(store, batch(records), batch([forged]))
    assert (result.inserted, result.conflicts, result.committed) == (3, [("st-1", 2)], {"st-1": 3})
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


def test_the_first_record_must_follow_genesis(store: SqlStore) -> None:
    stray = list(chain("st-1", 2, prev="e" * 64))
    assert ingest(store, batch(stray)).committed == {"st-1": 2}
    assert [(r.reason, r.seq) for r in store.rejects()] == [(CHAIN_BREAK, 1)]


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
        assert second.gaps(station) == []
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
    assert (store.count_scans(), store.stations(), store.rejects()) == (0, [], [])


def test_migrate_applies_only_what_is_missing(open_stores: OpenStore) -> None:
    store = open_stores()
    assert store.schema_version() == 0
    assert migrations.migrate(store.database, migrations.MIGRATIONS[:1]) == [1]
    assert store.schema_version() == 1
    ingest(store, batch(seqs("st-1", 1, 3)))  # data written at version 1 survives
    assert migrations.migrate(store.database) == [m.version for m in migrations.MIGRATIONS[1:]]
    assert store.schema_version() == migrations.LATEST
    assert store.committed_upto("st-1") == 3


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
        assert store.ingest([], NOW) == IngestResult({}, 0, 0, [])
        assert ingest(store, batch(seqs("st-1", 1, 2))).committed == {"st-1": 2}
    finally:
        store.close()


def test_an_unreachable_postgres_is_a_store_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/presensi?connect_timeout=2")
