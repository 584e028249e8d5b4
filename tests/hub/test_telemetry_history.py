"""A station's telemetry history at the hub: one sample per station per five minutes (the last
report, with the bucket's highest backlog), written by ingest, purged after a week; on SQLite
and PostgreSQL."""

from __future__ import annotations

from presensi.hub import telemetry
from presensi.hub.ingest import Ingest, _Message
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol import topics, wire

T0 = 1_764_800_000_000 - 1_764_800_000_000 % telemetry.BUCKET_MS  # a bucket's start


def report(ts_ms: int, backlog: int, disk: int = 900) -> wire.Telemetry:
    return wire.Telemetry(
        ts_ms=ts_ms,
        last_seq=10,
        acked_upto=10 - backlog,
        backlog=backlog,
        disk_free_mb=disk,
        clock_synced=True,
        decode_fps=9.5,
    )


def test_reports_fold_into_five_minute_samples(store: SqlStore) -> None:
    store.record_telemetry("st-a", T0 + 1_000, report(T0 + 800, backlog=3))
    store.record_telemetry("st-a", T0 + 61_000, report(T0 + 60_500, backlog=9))
    store.record_telemetry("st-a", T0 + 121_000, report(T0 + 120_700, backlog=1, disk=880))
    store.record_telemetry("st-a", T0 + 301_000, report(T0 + 300_900, backlog=0))
    store.record_telemetry("st-b", T0 + 2_000, report(T0 + 2_000, backlog=5))
    first, second = telemetry.samples(store.database, "st-a", T0)
    assert (first.bucket_ms, first.backlog, first.backlog_max) == (T0, 1, 9)
    assert (first.disk_free_mb, first.clock_offset_ms) == (880, 300)
    assert first.received_ms == T0 + 121_000
    assert (second.bucket_ms, second.backlog_max) == (T0 + telemetry.BUCKET_MS, 0)
    assert [s.backlog for s in telemetry.samples(store.database, "st-b", T0)] == [5]
    assert telemetry.samples(store.database, "st-a", T0 + telemetry.BUCKET_MS) == [second]


def test_old_samples_are_purged(store: SqlStore) -> None:
    for day in range(9):
        store.record_telemetry("st-a", T0 + day * 86_400_000, report(T0, backlog=day))
    cut = T0 + 8 * 86_400_000 - telemetry.RETENTION_MS
    assert store.purge_telemetry(cut) == 1
    kept = telemetry.samples(store.database, "st-a", 0)
    assert [s.backlog for s in kept] == list(range(1, 9))


def test_ingest_keeps_a_known_stations_telemetry_only(store: SqlStore) -> None:
    store.register_station(StationInfo("st-a", bytes(32), "term-mangkang"))
    ingest = Ingest(store, "mqtt://127.0.0.1:1")
    body = wire.encode(report(T0, backlog=4))
    for station in ("st-a", "st-unknown"):
        topic = topics.station_topic(station, "telemetry")
        ingest._telemetry(_Message(topic, body, T0 + 500, len(body)), station)
    assert [s.backlog for s in telemetry.samples(store.database, "st-a", 0)] == [4]
    assert telemetry.samples(store.database, "st-unknown", 0) == []
