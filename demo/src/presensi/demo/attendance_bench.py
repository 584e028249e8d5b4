"""`presensi hub bench-attendance`: the attendance reports on a big store, SQLite and
PostgreSQL. 810 employees (shift groups Pagi, Siang, Malam) and 42 stations; 1,000,000 scans
(an in and an out per work day, about 617 days back). Measured: deriving one month of days
from their marks (24,300 employee-days), the monthly recap of 810 employees, the daily
exception list (p50/p95 of 20), each from the store as the console reads it."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import random
import statistics
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from presensi.demo.console_bench import _stores
from presensi.device.config import UplinkSection
from presensi.hub.ingest import DERIVE_BATCH, DERIVE_EVERY_S

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
STATION_BATCH = UplinkSection().batch_size  # records per batch a station sends by default
SHIFT_START_H = {"Pagi": 5, "Siang": 13, "Malam": 21}
_INSERT = (
    "INSERT INTO scans (station, journal, fork, seq, scan_id, employee, serial, outcome, reason, "
    "direction, wall_ms, location, clock_synced, prev_hash, hash, body, received_ms) "
    "VALUES (?, ?, 0, ?, ?, ?, 1, 'accepted', 'ok', ?, ?, ?, TRUE, '', '', '{}', ?)"
)


def fill(store_url: str, employees: int, scans: int, today: dt.date, seed: int = 3) -> None:
    from presensi.hub.people import Person, sync_people
    from presensi.hub.store import SqlStore, open_store

    rng = random.Random(seed)
    store = open_store(store_url)
    assert isinstance(store, SqlStore)
    store.migrate()
    db = store.database
    groups = list(SHIFT_START_H)
    people = [
        Person(f"EMP-{n:05d}", f"Pegawai {n}", f"Unit {n % 12}", groups[n % 3])
        for n in range(1, employees + 1)
    ]
    sync_people(db, people, 1)
    stations = [(f"st-bench-{n:02d}", f"lokasi-{n:02d}") for n in range(42)]
    now = int(time.time() * 1000)
    with db.transaction():
        db.executemany(
            "INSERT INTO stations (id, location, public_key, online, last_seen_ms, backlog) "
            "VALUES (?, ?, ?, TRUE, ?, 0)",
            [(s, loc, bytes(32), now) for s, loc in stations],
        )
    days = scans // (2 * employees)
    seqs = dict.fromkeys((s for s, _ in stations), 0)
    rows: list[tuple[object, ...]] = []
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        for p in people:
            if rng.random() < 0.04:
                continue  # absent
            station, location = stations[int(p.number[4:]) % 42]
            start = dt.datetime.combine(day, dt.time(SHIFT_START_H[p.shift_group]), WIB)
            t_in = int(start.timestamp() * 1000) + rng.randint(-20, 40) * 60_000
            t_out = t_in + 8 * 3_600_000 + rng.randint(-50, 30) * 60_000
            for direction, at in (("in", t_in), ("out", t_out)):
                seqs[station] += 1
                seq = seqs[station]
                rows.append(
                    (
                        station,
                        "f" * 32,
                        seq,
                        f"{station}-{seq}",
                        p.number,
                        direction,
                        at,
                        location,
                        at,
                    )
                )
            if len(rows) >= 20_000:
                with db.transaction():
                    db.executemany(_INSERT, rows)
                rows.clear()
    if rows:
        with db.transaction():
            db.executemany(_INSERT, rows)
    store.close()


def run_one(engine: str, employees: int, scans: int) -> dict[str, Any]:
    from presensi.hub.attendance import days, reports
    from presensi.hub.store import SqlStore, open_store

    today = dt.datetime.now(WIB).date()
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last month, whole
    last = today.replace(day=1) - dt.timedelta(days=1)
    with (
        tempfile.TemporaryDirectory(prefix="presensi-att-bench-") as tmp,
        _stores(engine, Path(tmp)) as url,
    ):
        started = time.perf_counter()
        fill(url, employees, scans, today)
        fill_s = time.perf_counter() - started
        store = open_store(url)
        assert isinstance(store, SqlStore)
        db = store.database
        try:
            started = time.perf_counter()
            marks = days.mark_range(db, first, last)
            derived = days.derive_all(db, days.RulesInForce())
            derive_s = time.perf_counter() - started
            rows = db.execute("SELECT COUNT(*) FROM attendance_days")[0][0]
            _, rules = days.RulesInForce().get(db)
            persons = reports.people(db)
            now = int(time.time() * 1000)
            recap_s = []
            for _ in range(5):
                started = time.perf_counter()
                reports.recap(db, rules, first, last, persons, now)
                recap_s.append(time.perf_counter() - started)
            daily_ms = []
            for k in range(20):
                started = time.perf_counter()
                lines, _ = reports.daily(db, rules, first + dt.timedelta(days=k % 28), persons, now)
                [line for line in lines if line.exception]
                daily_ms.append((time.perf_counter() - started) * 1000)
        finally:
            store.close()
    daily_ms.sort()
    return {
        "fill_s": round(fill_s, 1),
        "month": f"{first:%Y-%m}",
        "marks": marks,
        "days_derived": int(rows),
        "derive_s": round(derive_s, 2),
        "derive_days_per_s": round(int(rows) / derive_s),
        "recap_s": {"median": round(statistics.median(recap_s), 3), "max": round(max(recap_s), 3)},
        "daily_ms": {"p50": round(daily_ms[9], 1), "p95": round(daily_ms[18], 1)},
        "marks_done": derived,
        # live: each scan its own message and transaction, as at the morning peak of one city;
        # catch-up: stations draining a backlog, 20 batches of 25 records per transaction;
        # and in the batches a station sends by default (200 records: a station's whole week
        # here), where ingest is cheapest per scan and the derivation's share the largest
        "ingest_cost_live": _both(engine, days_back=1, per_batch=1, per_group=1),
        "ingest_cost_catchup": _both(engine),
        "ingest_cost_catchup_200": _both(engine, per_batch=STATION_BATCH),
    }


def _both(engine: str, **shape: Any) -> dict[str, Any]:
    """On the hub's schedule (the figure), and derived after every transaction (the worst case:
    nothing coalesced)."""
    figures = ingest_cost(engine, **shape)
    figures["ratio_each_transaction"] = ingest_cost(engine, every_s=None, **shape)["ratio"]
    return figures


def ingest_cost(
    engine: str,
    employees: int = 810,
    days_back: int = 5,
    *,
    per_batch: int = 25,
    per_group: int = 20,
    every_s: float | None = DERIVE_EVERY_S,
) -> dict[str, Any]:
    """What the incremental derivation adds to ingest: a week of realistic scans (an in and an
    out per employee per day, 42 stations) ingested through the store as the hub does (groups
    of batches of 25 records, each group one transaction that also marks the days), and the
    marked days derived between groups as the hub's ingest does: once `every_s` seconds of
    ingest have passed since the last derivation (presensi.hub.ingest.DERIVE_EVERY_S), and at
    the end; with `every_s` None, after every group. The ratio is derivation seconds over
    ingest seconds. The hub's own ingest also verifies signatures and talks MQTT, which this
    leaves out; measured in the hub (ingest_cost_in_hub) the ratio came out higher, not lower:
    the hub ingests big batches cheaply, and derives a day dearer there (docs/benchmarks.md)."""
    from presensi.hub.attendance import days
    from presensi.hub.people import sync_people
    from presensi.hub.store import SqlStore, StationInfo, open_store
    from presensi.protocol.wire import batch_of

    rng = random.Random(7)
    people, chains = _week(employees, days_back, rng)
    stations = list(chains)
    with (
        tempfile.TemporaryDirectory(prefix="presensi-att-cost-") as tmp,
        _stores(engine, Path(tmp)) as url,
    ):
        store = open_store(url)
        assert isinstance(store, SqlStore)
        try:
            store.migrate()
            sync_people(store.database, people, 1)
            for station in stations:
                store.register_station(StationInfo(station, bytes(32), station[3:]))
            batches = [
                batch_of(station, records[0].journal, records[k : k + per_batch])
                for station, records in chains.items()
                for k in range(0, len(records), per_batch)
            ]
            rng.shuffle(batches)  # stations deliver in any order
            ingest_s = derive_s = since = 0.0
            rules = days.RulesInForce()
            for k in range(0, len(batches), per_group):
                started = time.perf_counter()
                store.ingest(batches[k : k + per_group], int(time.time() * 1000))
                elapsed = time.perf_counter() - started
                ingest_s += elapsed
                since += elapsed
                last = k + per_group >= len(batches)
                if every_s is not None and since < every_s and not last:
                    continue
                since = 0.0
                started = time.perf_counter()
                while days.derive_pending(store.database, rules, limit=DERIVE_BATCH):
                    pass
                derive_s += time.perf_counter() - started
            rows = store.database.execute("SELECT COUNT(*) FROM attendance_days")[0][0]
        finally:
            store.close()
    return {
        "scans": sum(len(c) for c in chains.values()),
        "records_per_transaction": per_batch * per_group,
        "ingest_s": round(ingest_s, 2),
        "derive_s": round(derive_s, 2),
        "days_derived": int(rows),
        "ratio": round(derive_s / ingest_s, 3),
    }


def _week(employees: int, days_back: int, rng: random.Random) -> tuple[list[Any], dict[str, Any]]:
    """The people (shift groups Pagi, Siang, Malam) and 42 stations' journals of `days_back`
    days: an in and an out per person per day, a few minutes either side of the shift."""
    from presensi.device.testbed import sample_record
    from presensi.hub.people import Person
    from presensi.protocol.record import GENESIS

    today = dt.datetime.now(WIB).date()
    groups = list(SHIFT_START_H)
    people = [
        Person(f"EMP-{n:05d}", f"Pegawai {n}", f"Unit {n % 12}", groups[n % 3])
        for n in range(1, employees + 1)
    ]
    scans: list[tuple[int, str, str]] = []  # (time, employee, direction), in time order
    for back in range(days_back, 0, -1):
        day = today - dt.timedelta(days=back)
        for p in people:
            start = dt.datetime.combine(day, dt.time(SHIFT_START_H[p.shift_group]), WIB)
            t_in = int(start.timestamp() * 1000) + rng.randint(-20, 40) * 60_000
            scans.append((t_in, p.number, "in"))
            scans.append((t_in + 8 * 3_600_000 + rng.randint(-50, 30) * 60_000, p.number, "out"))
    scans.sort()
    stations = [f"st-bench-{n:02d}" for n in range(42)]
    chains: dict[str, list[Any]] = {s: [] for s in stations}
    prev = dict.fromkeys(stations, GENESIS)
    for at, employee, direction in scans:
        station = stations[int(employee[4:]) % 42]
        seq = len(chains[station]) + 1
        record = sample_record(
            station, seq, prev[station], employee=employee, wall_ms=at, direction=direction,
            location=station[3:], clock_synced=True, clock_last_sync_ms=at,
        )  # fmt: skip
        chains[station].append(record)
        prev[station] = record.digest()
    return people, chains


def run_attendance_bench(
    engines: tuple[str, ...], employees: int, scans: int, as_json: bool
) -> None:
    import json

    import click

    results = {}
    for engine in engines:
        with contextlib.suppress(KeyboardInterrupt):
            results[engine] = run_one(engine, employees, scans)
        if not as_json:
            r = results[engine]
            click.echo(
                f"{engine}: {employees} employees, {scans:,} scans (filled in {r['fill_s']} s); "
                f"month {r['month']}: {r['days_derived']} days derived in {r['derive_s']} s "
                f"({r['derive_days_per_s']}/s); recap median {r['recap_s']['median']} s, max "
                f"{r['recap_s']['max']} s; daily exceptions p50 {r['daily_ms']['p50']} ms, p95 "
                f"{r['daily_ms']['p95']} ms"
            )
            for kind in ("live", "catchup", "catchup_200"):
                c = r[f"ingest_cost_{kind}"]
                click.echo(
                    f"  derivation during ingest ({kind}, {c['records_per_transaction']} records "
                    f"per transaction, {c['scans']} scans): {c['derive_s']} s derive / "
                    f"{c['ingest_s']} s ingest = {c['ratio']} (derived after every "
                    f"transaction: {c['ratio_each_transaction']})"
                )
    if as_json:
        click.echo(json.dumps(results))


# -- the same, in the hub itself ------------------------------------------------------------------


def ingest_cost_in_hub(
    engine: str, employees: int = 810, days_back: int = 20, rounds: int = 3
) -> dict[str, Any]:
    """What the derivation adds to the hub's own ingest, measured in the hub: 42 stations
    (their uplinks, in a process of their own) drain a backlog of `days_back` days of realistic
    scans (an in and an out per employee per work day) through a real Mosquitto to the hub in a
    process of its own, as in production (MQTT, signature and chain checks, the store, acks,
    and the derivation on its schedule), until every station is acked and every day derived;
    and again with a hub that derives nothing (the baseline), the rounds alternating. Figures:
    the derivation's CPU seconds (its thread's, measured in the hub) over the rest of the hub's
    CPU seconds in the same run, and the hub's CPU seconds with derivation over those without,
    minus one; median of the rounds."""
    from presensi.demo.hub_bench import reset_acked

    rng = random.Random(7)
    people, chains = _week(employees, days_back, rng)
    runs: list[tuple[dict[str, float], dict[str, float]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="presensi-att-hub-") as tmp,
        _empty_stores(engine, Path(tmp)) as store_urls,
    ):
        folder = Path(tmp)
        stations = _bench_journals(folder, chains)
        for n in range(rounds):
            pair = []
            for derive in (True, False):
                reset_acked(stations)
                with store_urls() as url:
                    pair.append(_hub_round(url, people, stations, folder / f"{n}-{derive}", derive))
            runs.append((pair[0], pair[1]))
    with_derivation = [on for on, _ in runs]
    in_run = [on["derive_cpu_s"] / (on["cpu_s"] - on["derive_cpu_s"]) for on in with_derivation]
    on_off = [on["cpu_s"] / off["cpu_s"] - 1 for on, off in runs]
    return {
        "scans": sum(len(c) for c in chains.values()),
        "days_derived": int(min(on["days"] for on in with_derivation)),
        "hub_cpu_s_with": [round(on["cpu_s"], 2) for on, _ in runs],
        "hub_cpu_s_without": [round(off["cpu_s"], 2) for _, off in runs],
        "derive_cpu_s": [round(on["derive_cpu_s"], 2) for on in with_derivation],
        "ratio": round(statistics.median(in_run), 3),
        "ratio_with_over_without": round(statistics.median(on_off), 3),
    }


@contextlib.contextmanager
def _empty_stores(engine: str, folder: Path) -> Iterator[Callable[[], Any]]:
    """A maker of empty stores (a context manager each): SQLite files in `folder`, or databases
    on one PostgreSQL server (a throwaway one, or PRESENSI_BENCH_POSTGRES's)."""
    if engine == "sqlite":
        made = itertools.count()

        @contextlib.contextmanager
        def sqlite_store() -> Iterator[str]:
            yield f"sqlite:///{folder / f'hub-{next(made)}.db'}"

        yield sqlite_store
        return
    from presensi.demo.console_bench import POSTGRES_ENV
    from presensi.demo.postgres import postgres_database, postgres_server

    with postgres_server(os.environ.get(POSTGRES_ENV)) as conninfo:
        yield lambda: postgres_database(conninfo, prefix="presensi_att_hub")


def _bench_journals(folder: Path, chains: dict[str, list[Any]]) -> list[Any]:
    """Each station's scans in a station journal of its own (the station's key derived from
    its id, as the hub bench's are)."""
    from presensi.demo.hub_bench import BenchStation, station_seed
    from presensi.device.testbed import fill_journal_with

    stations = []
    for sid, records in chains.items():
        path = folder / "stations" / sid / "journal.db"
        path.parent.mkdir(parents=True)
        fields = [
            {
                "employee": r.employee,
                "wall_ms": r.wall_ms,
                "direction": r.direction,
                "location": r.location,
                "clock_synced": True,
            }
            for r in records
        ]
        fill_journal_with(path, sid, len(fields), lambda seq, f=fields: f[seq - 1])  # type: ignore[misc]
        stations.append(BenchStation(sid, str(path), station_seed(sid).hex(), len(fields)))
    return stations


def _hub_round(
    url: str, people: list[Any], stations: list[Any], folder: Path, derive: bool
) -> dict[str, float]:
    """One delivery of every station's backlog to a fresh hub; the hub's IngestStats (with its
    CPU seconds) and the days it derived."""
    from presensi.demo.hub_bench import (
        HubProcess,
        broker_dropped,
        deliver_elsewhere,
        register,
        start_broker,
    )
    from presensi.hub.people import sync_people
    from presensi.hub.store import SqlStore, open_store

    register(url, {s.id: s.public_key() for s in stations})
    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        sync_people(store.database, people, 1)
        broker = start_broker(folder / "broker")
        try:
            hub = HubProcess(url, broker.url, derive=derive)
            try:
                delivery = deliver_elsewhere(broker.url, stations, folder / "stations.json")
                derived = not derive or _wait_until_derived(store)
            finally:
                stats = hub.close()
            if not delivery.all_acked or broker_dropped(broker) or not derived or not stats:
                raise RuntimeError("the hub did not take every scan and derive every day")
        finally:
            broker.close()
        days = store.database.execute("SELECT COUNT(*) FROM attendance_days")[0][0]
    finally:
        store.close()
    return {**stats, "days": float(days)}


def _wait_until_derived(store: Any, timeout_s: float = 300.0) -> bool:
    """Until the hub has derived every marked day (no mark waits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not store.database.execute("SELECT COUNT(*) FROM attendance_dirty")[0][0]:
            return True
        time.sleep(0.05)
    return False
