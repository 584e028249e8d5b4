"""`presensi hub bench`: the hub's figures on this machine, each next to a baseline from the
same run where one exists (docs/benchmarks.md, "Hub").

Everything goes through the real path: a Mosquitto started here on a free loopback port (the
production settings of presensi.provisioning.broker: persistence on, raised queue limits; but
anonymous and without an ACL), the hub (presensi.hub.service.Hub) in a process of its own as in
production, and simulated stations (presensi.device.uplink.Uplink over journals pre-filled with
correctly chained records) in another process, so that neither shares a GIL with the other or
with the one real Station whose scan loop is timed in this process.

- ingest: records per second from the uplinks' start until every station is fully acked, into
  SQLite and into PostgreSQL (a throwaway server, or PRESENSI_BENCH_POSTGRES), median of a few
  rounds; the baseline: the same rows with plain executemany into a plain SQLite table, as
  durable, in transactions of the size the hub committed; no MQTT, no validation;
- drain: 42 stations with 10,000 unacked records each, started at once: seconds until all acked;
- scan-to-signal: a real Station (GpioIndicator on gpiozero mock pins) handed a scan every
  20 ms while its uplink drains a 10,000-record backlog, pooled over a series of drains; next to
  the same without a backlog, and while the whole fleet drains on this machine.

A service that cannot be started is an error, except PostgreSQL: its figure is then null, with
the reason. Every process started here is stopped, also on errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from presensi.demo.mosquitto import Mosquitto
from presensi.demo.postgres import postgres_database, postgres_server
from presensi.device.testbed import fill_journal
from presensi.protocol.record import decode_record

POSTGRES_ENV = "PRESENSI_BENCH_POSTGRES"
# 500 would be over the hub's MAX_BATCH_BYTES (256 KiB) with ~533-byte records: see docs
BATCH_SIZE = 400
WINDOW = 8
DAY_MS = 86_400_000
DELIVERY_TIMEOUT_S = 300.0  # a phase not done by then is reported as not acked


@dataclass(frozen=True)
class Sizes:
    ingest_stations: int
    ingest_records: int  # per station
    rounds: int  # ingest rounds (fresh store and broker each); the median is reported
    drain_stations: int
    drain_records: int  # per station
    scans: int  # scans handed to a timed station's loop (at least)
    solo_backlog: int  # the backlog of a station draining alone
    solo_episodes_max: int
    scan_rate_hz: float = 50.0
    # attendance: employees, work days of backlog, rounds (with and without derivation each)
    attendance: tuple[int, int, int] = (810, 20, 3)


FULL = Sizes(8, 20_000, 3, 42, 10_000, 300, 10_000, 60)
QUICK = Sizes(4, 2_000, 1, 42, 500, 60, 2_000, 6, attendance=(60, 3, 1))


class BenchError(RuntimeError):
    """A service the bench needs did not start, or a phase did not finish."""


def _wait_until(done: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def start_broker(workdir: Path) -> Mosquitto:
    """A Mosquitto with the production settings of presensi.provisioning.broker that matter here
    (persistence, raised queue limits), anonymous and without an ACL."""
    return Mosquitto(
        workdir,
        persistence=True,
        autosave_interval=60,
        max_queued_messages=100_000,
        max_queued_bytes=256 * 1024 * 1024,
        max_inflight_messages=20,
    ).start()


def broker_dropped(broker: Mosquitto) -> bool:
    """Did the broker drop a message (a queue limit was hit)?"""
    return "dropped" in broker.log_text()


# -- the hub, in a process of its own ----------------------------------------------------------


def _hub_child(store_url: str, broker_url: str, derive: bool = True) -> None:
    """The hub process: "ready" on stdout once connected, runs until stdin closes, then
    prints its IngestStats as JSON. With `derive` False it derives no attendance, as `hub run
    --no-derive` (the marks are made, as by any ingest, and left): the baseline of what
    derivation costs."""
    from presensi.hub.service import Hub

    hub = Hub(store_url, broker_url, client_id="presensi-hub-bench", derive=derive)
    hub.start()
    cpu = time.process_time()
    try:
        if hub.ingest.connected.wait(30):
            cpu = time.process_time()
            print("ready", flush=True)
            sys.stdin.read()
    finally:
        hub.close()
        stats: dict[str, float] = dataclasses.asdict(hub.ingest.stats)
        stats["cpu_s"] = time.process_time() - cpu
        print(json.dumps(stats), flush=True)


class HubProcess:
    """presensi.hub.service.Hub in a process of its own (as in production, with its own GIL);
    `close()` stops it and returns its IngestStats as a dict, with the CPU seconds it used
    since it was ready ("cpu_s")."""

    def __init__(self, store_url: str, broker_url: str, *, derive: bool = True) -> None:
        args = ["--hub", store_url, broker_url, *(() if derive else ("--no-derive",))]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "presensi.demo.hub_bench", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":  # the hub waits 30 s at most
            self.close()
            raise BenchError("the hub process did not connect to the broker")

    def close(self) -> dict[str, float]:
        try:
            out, _ = self._proc.communicate(timeout=30)  # closes stdin: the hub stops
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            return {}
        try:
            stats: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {}
        return stats


# -- simulated stations, in a process of their own ------------------------------------------------


@dataclass(frozen=True)
class BenchStation:
    """A simulated station: its id, journal, signing key seed and how many records it holds."""

    id: str
    journal: str
    seed: str  # hex
    records: int

    def public_key(self) -> bytes:
        from presensi.protocol.keys import SigningKey, raw_public

        return raw_public(SigningKey.from_seed(bytes.fromhex(self.seed)).public)


def make_stations(folder: Path, prefix: str, n: int, records: int) -> list[BenchStation]:
    stations = []
    for i in range(n):
        sid = f"{prefix}-{i + 1:03d}"
        path = folder / sid / "journal.db"
        fill_journal(path, sid, records)
        stations.append(BenchStation(sid, str(path), station_seed(sid).hex(), records))
    return stations


def reset_acked(stations: Sequence[BenchStation]) -> None:
    """Make the journals' records unacked again (for a round against a fresh store)."""
    for s in stations:
        db = sqlite3.connect(s.journal, isolation_level=None)
        try:
            db.execute("UPDATE journals SET acked_upto = 0")
        finally:
            db.close()


@dataclass(frozen=True)
class Delivery:
    start: float  # time.monotonic() when the uplinks were started
    end: float  # when the last one was fully acked (or gave up)
    all_acked: bool
    batches: int
    resends: int
    reconnects: int
    cpu_s: float  # CPU seconds of the stations' process from start to end

    @property
    def seconds(self) -> float:
        return self.end - self.start


def deliver(
    broker_url: str,
    stations: Sequence[BenchStation],
    *,
    timeout: float = DELIVERY_TIMEOUT_S,
    before_start: Callable[[], None] = lambda: None,
    abort: threading.Event | None = None,
) -> Delivery:
    """Start an uplink per station at once; wait until every one is fully acked (or the
    timeout passes, or `abort` is set)."""
    from presensi.device.config import UplinkSection
    from presensi.device.uplink import Uplink
    from presensi.protocol.keys import SigningKey

    settings = UplinkSection(
        broker=broker_url,
        batch_size=BATCH_SIZE,
        window=WINDOW,
        reconnect_min_s=0.2,
        reconnect_max_s=2.0,
    )
    uplinks = [
        Uplink(settings, Path(s.journal), s.id, SigningKey.from_seed(bytes.fromhex(s.seed)))
        for s in stations
    ]
    pending = {i: s.records for i, s in enumerate(stations)}
    abort = abort or threading.Event()
    before_start()
    start = end = time.monotonic()
    cpu = time.process_time()
    try:
        for uplink in uplinks:
            uplink.start()
        while pending and time.monotonic() < start + timeout and not abort.is_set():
            time.sleep(0.005)
            now = time.monotonic()
            for i in [i for i, n in pending.items() if uplinks[i].state.acked_upto >= n]:
                del pending[i]
                end = now
        if pending:
            end = time.monotonic()
        cpu = time.process_time() - cpu
    finally:
        for uplink in uplinks:
            uplink.stop(0)  # tell them all first, then wait for each
        for uplink in uplinks:
            uplink.stop()
    return Delivery(
        start=start,
        end=end,
        all_acked=not pending,
        batches=sum(u.state.batches_sent for u in uplinks),
        resends=sum(u.state.resends for u in uplinks),
        reconnects=sum(max(u.state.connects - 1, 0) for u in uplinks),
        cpu_s=cpu,
    )


def _set_at_eof(event: threading.Event) -> None:
    sys.stdin.read()
    event.set()


def _stations_child(broker_url: str, spec: str) -> None:
    """The stations process: builds the uplinks, says "ready", starts them all when a line
    arrives on stdin, and prints the Delivery as JSON."""
    stations = msgspec.json.decode(Path(spec).read_bytes(), type=list[BenchStation])
    gone = threading.Event()

    def handshake() -> None:
        print("ready", flush=True)
        if not sys.stdin.readline():
            raise SystemExit(1)  # the bench went away
        # from now on, the end of stdin means the bench went away: stop early
        threading.Thread(target=_set_at_eof, args=(gone,), daemon=True).start()

    delivery = deliver(broker_url, stations, before_start=handshake, abort=gone)
    print(json.dumps(dataclasses.asdict(delivery)), flush=True)


class StationsProcess:
    """Simulated stations (in-process uplinks over their journals) in a process of their own,
    so that they share no GIL with the hub or with the station whose scan loop is timed."""

    def __init__(self, broker_url: str, stations: Sequence[BenchStation], spec: Path) -> None:
        spec.write_bytes(msgspec.json.encode(list(stations)))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "presensi.demo.hub_bench", "--stations", broker_url, str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self.close()
            raise BenchError("the stations process did not start")

    def go(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()

    def result(self) -> Delivery:
        """Wait for the stations to be fully acked (their process gives up by itself after
        DELIVERY_TIMEOUT_S) and return how it went."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        try:
            return Delivery(**json.loads(line))
        except (ValueError, TypeError) as exc:
            raise BenchError(f"the stations process gave no result: {line!r}") from exc
        finally:
            self.close()

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> StationsProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def deliver_elsewhere(broker_url: str, stations: Sequence[BenchStation], spec: Path) -> Delivery:
    with StationsProcess(broker_url, stations, spec) as fleet:
        fleet.go()
        return fleet.result()


# -- the store -----------------------------------------------------------------------------------


def register(store_url: str, stations: dict[str, bytes]) -> None:
    """Migrate the store and enroll the stations (id -> raw public key)."""
    from presensi.hub.store import StationInfo, open_store

    store = open_store(store_url)
    try:
        store.migrate()
        for sid, public_key in stations.items():
            store.register_station(StationInfo(sid, public_key, "pool-bench"))
    finally:
        store.close()


def stored_exactly(store_url: str, expected: dict[str, int]) -> bool:
    """The store holds exactly `expected[station]` records of each station, all committed."""
    from presensi.hub.store import open_store

    store = open_store(store_url)
    try:
        total = store.count_scans()
        committed = all(store.committed_upto(sid) == n for sid, n in expected.items())
    finally:
        store.close()
    return committed and total == sum(expected.values())


def _keys(stations: Sequence[BenchStation]) -> dict[str, bytes]:
    return {s.id: s.public_key() for s in stations}


def _expected(stations: Sequence[BenchStation]) -> dict[str, int]:
    return {s.id: s.records for s in stations}


# -- ingest ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestRound:
    records_per_s: float
    seconds: float
    all_acked: bool
    rows_per_commit: float
    duplicates: int
    resends: int
    hub_cpu_share: float  # CPU seconds of the hub process per second of the run
    stations_cpu_share: float


def ingest_round(store_url: str, stations: Sequence[BenchStation], folder: Path) -> IngestRound:
    """One run against a fresh store and a fresh broker: records / seconds from the uplinks'
    start until the last station is fully acked."""
    register(store_url, _keys(stations))
    broker = start_broker(folder / "broker")
    try:
        hub = HubProcess(store_url, broker.url)
        try:
            delivery = deliver_elsewhere(broker.url, stations, folder / "stations.json")
        finally:
            stats = hub.close()
        dropped = broker_dropped(broker)
    finally:
        broker.close()
    ok = delivery.all_acked and not dropped and stored_exactly(store_url, _expected(stations))
    total = sum(s.records for s in stations)
    return IngestRound(
        records_per_s=total / delivery.seconds,
        seconds=delivery.seconds,
        all_acked=ok,
        rows_per_commit=stats.get("records_inserted", 0) / max(stats.get("commits", 0), 1),
        duplicates=int(stats.get("duplicates", 0)),
        resends=delivery.resends,
        hub_cpu_share=stats.get("cpu_s", 0.0) / delivery.seconds,
        stations_cpu_share=delivery.cpu_s / delivery.seconds,
    )


def ingest_figures(
    engine: str,
    store_urls: Callable[[int], contextlib.AbstractContextManager[str]],
    stations: Sequence[BenchStation],
    rounds: int,
    folder: Path,
) -> dict[str, Any]:
    done: list[IngestRound] = []
    for n in range(rounds):
        reset_acked(stations)
        with store_urls(n) as url:
            done.append(ingest_round(url, stations, folder / f"{engine}-{n}"))
    ok = all(r.all_acked for r in done)
    rates = [round(r.records_per_s) for r in done]
    return {
        f"ingest_scans_per_s_{engine}": round(statistics.median(rates)) if ok else None,
        f"ingest_scans_per_s_{engine}_rounds": rates,
        f"ingest_seconds_{engine}_median": round(statistics.median(r.seconds for r in done), 2),
        f"ingest_records_{engine}": sum(s.records for s in stations),
        f"ingest_rows_per_commit_{engine}": round(
            statistics.median(r.rows_per_commit for r in done)
        ),
        f"ingest_duplicates_{engine}": sum(r.duplicates for r in done),
        f"ingest_hub_cpu_share_{engine}": round(
            statistics.median(r.hub_cpu_share for r in done), 2
        ),
        f"ingest_stations_cpu_share_{engine}": round(
            statistics.median(r.stations_cpu_share for r in done), 2
        ),
        f"ingest_resends_{engine}": sum(r.resends for r in done),
        f"ingest_all_acked_{engine}": ok,
    }


def postgres_figures(stations: Sequence[BenchStation], rounds: int, folder: Path) -> dict[str, Any]:
    """The ingest figures into PostgreSQL; null with the reason if no server can be had."""
    try:
        with postgres_server(os.environ.get(POSTGRES_ENV)) as conninfo:
            return ingest_figures(
                "postgres",
                lambda _: postgres_database(conninfo, prefix="presensi_bench"),
                stations,
                rounds,
                folder,
            )
    except Exception as exc:  # noqa: BLE001 - whatever stops PostgreSQL: null, with the reason
        return {
            "ingest_scans_per_s_postgres": None,
            "ingest_postgres_error": f"{type(exc).__name__}: {exc}".strip()[:500],
        }


@contextlib.contextmanager
def _sqlite_url(folder: Path, n: int) -> Iterator[str]:
    yield f"sqlite:///{folder / f'hub-{n}.db'}"


_PLAIN_TABLE = """
CREATE TABLE scans (
    station TEXT NOT NULL, seq BIGINT NOT NULL, scan_id TEXT NOT NULL, employee TEXT,
    serial BIGINT, outcome TEXT NOT NULL, reason TEXT NOT NULL, direction TEXT NOT NULL,
    event TEXT, wall_ms BIGINT NOT NULL, location TEXT NOT NULL, clock_synced BOOLEAN NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL, received_ms BIGINT NOT NULL,
    PRIMARY KEY (station, seq)
)
"""

_PLAIN_INSERT = "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _store_rows(stations: Sequence[BenchStation]) -> list[tuple[object, ...]]:
    """The rows the store inserts for these stations' records (built before any timing)."""
    received_ms = time.time_ns() // 1_000_000
    rows: list[tuple[object, ...]] = []
    for s in stations:
        db = sqlite3.connect(s.journal)
        try:
            bodies = db.execute("SELECT body FROM records ORDER BY seq").fetchall()
        finally:
            db.close()
        for (body,) in bodies:
            r = decode_record(body)
            rows.append(
                (
                    s.id,
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
                    hashlib.sha256(body).hexdigest(),
                    bytes(body).decode(),
                    received_ms,
                )
            )
    return rows


def bare_insert_figures(
    stations: Sequence[BenchStation], rows_per_tx: int, rounds: int, folder: Path
) -> dict[str, Any]:
    """The same rows, plain executemany into a plain table (the store's columns and primary
    key, not its two indexes), as durable as the store (WAL, synchronous=FULL), `rows_per_tx`
    rows per transaction; no MQTT, no validation, no hashing."""
    rows = _store_rows(stations)
    rates = []
    for n in range(rounds):
        db = sqlite3.connect(folder / f"bare-{n}.db", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_PLAIN_TABLE)
            start = time.perf_counter()
            for first in range(0, len(rows), rows_per_tx):
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_PLAIN_INSERT, rows[first : first + rows_per_tx])
                db.execute("COMMIT")
            seconds = time.perf_counter() - start
            if int(db.execute("SELECT count(*) FROM scans").fetchone()[0]) != len(rows):
                raise BenchError("the bare inserts lost rows")
        finally:
            db.close()
        rates.append(round(len(rows) / seconds))
    return {
        "bare_insert_rows_per_s": round(statistics.median(rates)),
        "bare_insert_rows_per_s_rounds": rates,
        "bare_insert_rows_per_tx": rows_per_tx,
    }


# -- drain, and scan-to-signal while draining -------------------------------------------------


def station_seed(sid: str) -> bytes:
    """Every bench station's signing key derives from its id, so it can be enrolled first."""
    return hashlib.sha256(b"presensi-bench/" + sid.encode()).digest()


def station_public_key(sid: str) -> bytes:
    from presensi.protocol.keys import SigningKey, raw_public

    return raw_public(SigningKey.from_seed(station_seed(sid)).public)


class LiveStation:
    """A real Station (journal, decider, scan loop, GpioIndicator on gpiozero mock pins, uplink)
    from a testbed folder whose journal holds `backlog` unacked records."""

    def __init__(self, folder: Path, sid: str, broker_url: str, backlog: int) -> None:
        from presensi.device.testbed import create
        from presensi.protocol.keys import SigningKey, save_signing_key

        (folder / sid).mkdir(parents=True)
        save_signing_key(folder / sid / "station.key", SigningKey.from_seed(station_seed(sid)))
        self.bed = create(
            folder / sid,
            station=sid,
            employees=300,
            broker=broker_url,
            window_s=0,
            uplink={"batch_size": BATCH_SIZE, "window": WINDOW, "resend_s": 20, "telemetry_s": 60},
        )
        if backlog:
            fill_journal(self.bed.journal_path, sid, backlog)
        self.id = sid
        self.backlog = backlog
        self.started = 0.0
        self.drained: float | None = None  # time.monotonic() when the backlog was seen acked
        self.scans = 0
        self.latencies_ms: list[float] = []
        self.during_drain_ms: list[float] = []  # of the scans handled while it was draining
        self.delivered = False  # the hub acked every record, backlog and scans

    def scan(self, scans: int, rate_hz: float, *, until_drained: bool) -> None:
        """Start the station and hand its scan loop one scan of a distinct badge every
        1/rate_hz seconds: `scans` of them, and while `until_drained`, more until its backlog
        is acked. Then stop it."""
        from gpiozero.pins.mock import MockFactory

        from presensi.device import config as station_config
        from presensi.device.station import Parts, Station
        from presensi.hardware.indicator_gpio import GpioIndicator

        indicator = GpioIndicator(17, 27, 22, pin_factory=MockFactory())
        station = Station(
            station_config.load(self.bed.config_path), Parts(indicator), exit_when_source_ends=False
        )
        uplink = station.uplink
        assert uplink is not None
        runner = threading.Thread(target=station.run, name="station", daemon=True)
        tokens = self.bed.tokens
        self.started = time.monotonic()
        runner.start()
        try:
            i = 0
            while i < scans or (until_drained and self.drained is None):
                if time.monotonic() - self.started > DELIVERY_TIMEOUT_S:
                    break
                delay = self.started + i / rate_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                draining = uplink.state.acked_upto < self.backlog
                if not draining:
                    self.drained = self.drained or time.monotonic()
                    if until_drained and i >= scans:
                        break
                station.loop.handle([tokens[i % len(tokens)]], time.monotonic_ns())
                if draining:
                    self.during_drain_ms.append(station.loop.stats.latencies_ns[-1] / 1e6)
                i += 1
            self.scans = i
            self.delivered = _wait_until(station.delivered, 60, 0.02)
            if self.delivered:
                self.drained = self.drained or time.monotonic()
            self.latencies_ms = [ns / 1e6 for ns in station.loop.stats.latencies_ns]
            self.delivered = self.delivered and len(self.latencies_ms) == i
        finally:
            station.stop()
            runner.join(15)
            indicator.close()


def _p(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


def _solo_ids(sizes: Sizes) -> list[str]:
    return [f"st-solo-{i + 1:03d}" for i in range(sizes.solo_episodes_max)]


def drain_figures(sizes: Sizes, folder: Path) -> dict[str, Any]:
    """Scan-to-signal of a real station: without a backlog (the baseline), while it drains a
    backlog alone (one episode after another until enough scans are pooled), and while all 42
    stations drain at once (41 simulated in a stations process, this one here): the drain
    figure. One broker and one hub (SQLite) for all of it."""
    fleet = make_stations(
        folder / "fleet", "st-drain", sizes.drain_stations - 1, sizes.drain_records
    )
    broker = start_broker(folder / "broker-drain")
    try:
        store_url = f"sqlite:///{folder / 'drain-hub.db'}"
        ids = ["st-idle", "st-live", *_solo_ids(sizes)]
        register(store_url, {**_keys(fleet), **{sid: station_public_key(sid) for sid in ids}})
        hub = HubProcess(store_url, broker.url)
        try:
            idle = LiveStation(folder, "st-idle", broker.url, 0)
            idle.scan(sizes.scans, sizes.scan_rate_hz, until_drained=False)
            solos = _solo_episodes(sizes, broker.url, folder)
            live = LiveStation(folder, "st-live", broker.url, sizes.drain_records)
            with StationsProcess(broker.url, fleet, folder / "fleet.json") as others:
                others.go()
                live.scan(sizes.scans, sizes.scan_rate_hz, until_drained=True)
                delivery = others.result()
        finally:
            hub.close()
        dropped = broker_dropped(broker)
    finally:
        broker.close()
    expected = {
        **_expected(fleet),
        **{s.id: s.backlog + s.scans for s in (idle, live, *solos)},
    }
    stored = stored_exactly(store_url, expected)
    drained = live.drained is not None and delivery.all_acked
    seconds = max(delivery.end, live.drained or 0.0) - min(delivery.start, live.started)
    total = sum(s.records for s in fleet) + live.backlog
    solo_ms = [ms for s in solos for ms in s.during_drain_ms]
    solo_drain_s = [s.drained - s.started for s in solos if s.drained is not None]
    return {
        "drain_seconds_42x10000": round(seconds, 2) if drained else None,
        "drain_stations": len(fleet) + 1,
        "drain_records_per_station": sizes.drain_records,
        "drain_scans_per_s": round(total / seconds) if drained else None,
        "drain_resends": delivery.resends,
        "drain_all_acked": drained and stored and not dropped and live.delivered,
        "scan_to_signal_ms_p99_while_draining": _p(solo_ms, 0.99),
        "scan_to_signal_ms_p50_while_draining": _p(solo_ms, 0.5),
        "scan_to_signal_samples_while_draining": len(solo_ms),
        "solo_drain_episodes": len(solos),
        "solo_backlog_records": sizes.solo_backlog,
        "solo_drain_seconds_median": round(statistics.median(solo_drain_s), 2)
        if solo_drain_s
        else None,
        "scan_to_signal_ms_p99_no_backlog": _p(idle.latencies_ms, 0.99),
        "scan_to_signal_ms_p50_no_backlog": _p(idle.latencies_ms, 0.5),
        "scan_to_signal_samples_no_backlog": len(idle.latencies_ms),
        "scan_to_signal_p99_ratio": _ratio(_p(solo_ms, 0.99), _p(idle.latencies_ms, 0.99)),
        "scan_to_signal_ms_p99_during_fleet_drain": _p(live.during_drain_ms, 0.99),
        "scan_to_signal_ms_p50_during_fleet_drain": _p(live.during_drain_ms, 0.5),
        "scan_to_signal_samples_during_fleet_drain": len(live.during_drain_ms),
        "scan_to_signal_all_acked": all(s.delivered for s in (idle, live, *solos)),
    }


def _solo_episodes(sizes: Sizes, broker_url: str, folder: Path) -> list[LiveStation]:
    """Stations with a backlog, one at a time, each scanning while it drains alone, until
    `sizes.scans` scans were handled while draining (or the episodes run out)."""
    solos: list[LiveStation] = []
    pooled = 0
    for sid in _solo_ids(sizes):
        if pooled >= sizes.scans:
            break
        solo = LiveStation(folder, sid, broker_url, sizes.solo_backlog)
        solo.scan(0, sizes.scan_rate_hz, until_drained=True)
        pooled += len(solo.during_drain_ms)
        solos.append(solo)
    return solos


# -- the run -------------------------------------------------------------------------------------


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else round(part / whole, 3)


def _attendance_cost(engine: str, employees: int, days_back: int, rounds: int) -> dict[str, Any]:
    """presensi.demo.attendance_bench.ingest_cost_in_hub; on PostgreSQL, null with the reason
    if no server can be had."""
    from presensi.demo.attendance_bench import ingest_cost_in_hub

    if engine == "sqlite":
        return ingest_cost_in_hub(engine, employees, days_back, rounds)
    try:
        return ingest_cost_in_hub(engine, employees, days_back, rounds)
    except Exception as exc:  # noqa: BLE001 - whatever stops PostgreSQL: null, with the reason
        return {"ratio": None, "error": f"{type(exc).__name__}: {exc}".strip()[:500]}


def run_bench(*, as_json: bool, quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "quick": quick,
        "batch_size": BATCH_SIZE,
        "window": WINDOW,
    }
    began = time.perf_counter()

    def progress(step: str) -> None:
        if not as_json:
            print(f"… {step}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="presensi-hub-bench-") as tmp:
        folder = Path(tmp)
        n, records = sizes.ingest_stations, sizes.ingest_records
        progress(f"filling {n} journals of {records} records")
        stations = make_stations(folder / "ingest", "st-ingest", n, records)
        progress(f"ingest into SQLite, {sizes.rounds} rounds")
        results.update(
            ingest_figures(
                "sqlite", lambda i: _sqlite_url(folder, i), stations, sizes.rounds, folder
            )
        )
        progress("bare inserts (baseline)")
        rows_per_tx = results["ingest_rows_per_commit_sqlite"] or BATCH_SIZE
        results.update(bare_insert_figures(stations, rows_per_tx, sizes.rounds, folder))
        results["ingest_to_bare_ratio_sqlite"] = _ratio(
            results["ingest_scans_per_s_sqlite"], results["bare_insert_rows_per_s"]
        )
        progress(f"ingest into PostgreSQL, {sizes.rounds} rounds")
        results.update(postgres_figures(stations, sizes.rounds, folder))
        progress(f"drain {sizes.drain_stations} x {sizes.drain_records}, scanning on one")
        results.update(drain_figures(sizes, folder))
        employees, days_back, rounds = sizes.attendance
        for engine in ("sqlite",) if quick else ("sqlite", "postgres"):
            progress(f"attendance derivation during ingest ({engine}, {rounds} rounds)")
            results[f"attendance_ingest_cost_{engine}"] = _attendance_cost(
                engine, employees, days_back, rounds
            )
    results["all_acked"] = all(
        value for key, value in results.items() if key.endswith("all_acked") or "_all_acked_" in key
    )
    results["bench_seconds"] = round(time.perf_counter() - began, 1)
    if as_json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:44s} {value}")
    return results


def _child(argv: list[str]) -> None:
    if argv[:1] == ["--hub"] and len(argv) in (3, 4) and argv[3:] in ([], ["--no-derive"]):
        _hub_child(argv[1], argv[2], derive=argv[3:] != ["--no-derive"])
    elif argv[:1] == ["--stations"] and len(argv) == 3:
        _stations_child(argv[1], argv[2])
    else:
        raise SystemExit("usage: presensi hub bench (this module's own arguments are internal)")


if __name__ == "__main__":
    _child(sys.argv[1:])
