"""`presensi hub bench-console`: how fast the console's pages answer on a big store while the
hub ingests, and how soon a committed scan reaches open live pages (docs/benchmarks.md).

For each scale (42 stations, 810 employees; 1,000 stations, 100,000 employees; 1,000,000 scans
each, or 100,000 with --quick) and each engine (SQLite, PostgreSQL): the store is filled with
rows written directly (stations, journals, scans, employees, rejects, alerts: what the pages
read; the scans' bodies are placeholders, no page decodes them), `presensi hub web` runs in a
process of its own, a writer process commits 1,000 scans/s in transactions of 100 (the
ingest's pattern, without MQTT), and a load process, separate again, logs in and has four
readers at once ask every page (and the API) 120 times in all, measuring every answer; 200 live
pages stay open meanwhile, in a process of their own (their events, 200 copies of every scan,
must not hold up the readers' clocks), and on one page in ten each event's delay from the
writer's commit is recorded (the other pages take the same bytes without decoding them). The
health check (/sehat, one SELECT 1) is measured the same way as a baseline: each page's p95 is
also given as a multiple of it, which says what the page costs apart from the machine's load.
The console's RSS (VmHWM) is read at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from presensi.demo.mosquitto import free_port

if TYPE_CHECKING:
    from presensi.hub.store import Database

POSTGRES_ENV = "PRESENSI_BENCH_POSTGRES"
PASSWORD = "bench-password-long"  # noqa: S105
LIVE_PAGES = 200
INGEST_PER_S = 1000
DAY_MS = 86_400_000
CLIENTS = 4  # concurrent page readers (besides the live pages)
BASELINE = "sehat"  # the health check (one SELECT 1): the machine's floor in the same run
PAGES = {
    "sehat": "/sehat",
    "ringkasan": "/",
    "stasiun": "/stasiun",
    "stasiun_diam": "/stasiun?saring=diam",
    "stasiun_jam": "/stasiun?saring=jam",
    "stasiun_antrian": "/stasiun?saring=antrian",
    "stasiun_detail": "/stasiun/{station}",
    "stasiun_7hari": "/stasiun/{station}?rentang=7h",
    "langsung": "/langsung",
    "langsung_lokasi": "/langsung?lokasi={location}",
    "pegawai": "/pegawai?cari={name}",
    "pegawai_detail": "/pegawai/{employee}",
    "peringatan": "/peringatan",
    "lokasi": "/lokasi",
    "audit": "/audit",
    "pengguna": "/pengguna",
    "api_stations": "/api/v1/stations",
    "api_scans": "/api/v1/scans?from_ms={from_ms}&limit=100",
    "api_rejects": "/api/v1/rejects?limit=100",
    "api_alerts": "/api/v1/alerts",
}


@dataclass(frozen=True)
class Scale:
    name: str
    stations: int
    employees: int
    scans: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- filling a store -----------------------------------------------------------------------------


def fill(store_url: str, scale: Scale, seed: int = 7) -> dict[str, str]:
    """The store at `scale`; returns example ids for the page URLs."""
    from presensi.hub.console import accounts
    from presensi.hub.console.api import new_token
    from presensi.hub.console.data import ConsoleData
    from presensi.hub.store import SqlStore, open_store

    rng = random.Random(seed)
    store = open_store(store_url)
    assert isinstance(store, SqlStore)
    store.migrate()
    db = store.database
    t_end = now_ms() - 120_000  # every filled scan is in the past, also with its jitter
    t_start = t_end - 30 * DAY_MS
    stations = [f"st-bench-{n:04d}" for n in range(scale.stations)]
    locations = [f"lokasi-{n % 42:02d}" for n in range(scale.stations)]
    numbers = [f"EMP-{n:06d}" for n in range(scale.employees)]
    with db.transaction():
        db.executemany(
            "INSERT INTO stations (id, location, public_key, online, last_seen_ms, backlog, "
            "clock_synced, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (s, loc, bytes(32), n % 10 != 0, t_end - n * 1000, n % 3, n % 17 != 0, "0.1.0")
                for n, (s, loc) in enumerate(zip(stations, locations, strict=True))
            ],
        )
        db.executemany(
            "INSERT INTO journals (station, journal, fork, ordinal, committed_upto, records) "
            "VALUES (?, ?, 0, 1, ?, ?)",
            [
                (s, f"{n:032x}", scale.scans // scale.stations, scale.scans // scale.stations)
                for n, s in enumerate(stations)
            ],
        )
        db.executemany(
            "INSERT INTO employees (number, name, unit, shift_group, active, updated_ms) "
            "VALUES (?, ?, ?, 'pagi', TRUE, ?)",
            [(e, f"Pegawai {n} Santoso", f"Unit {n % 40}", t_end) for n, e in enumerate(numbers)],
        )
    per_station = scale.scans // scale.stations
    batch: list[tuple[object, ...]] = []
    for n, station in enumerate(stations):
        journal = f"{n:032x}"
        for seq in range(1, per_station + 1):
            wall = t_start + (seq * 30 * DAY_MS) // per_station + rng.randrange(60_000)
            batch.append(_scan_row(station, journal, seq, rng.choice(numbers), locations[n], wall))
            if len(batch) >= 20_000:
                with db.transaction():
                    db.executemany(_INSERT_SCAN, batch)
                batch.clear()
    if batch:
        with db.transaction():
            db.executemany(_INSERT_SCAN, batch)
    for n in range(2000):
        store.reject(
            t_end - n * 1000,
            "presensi/v1/stations/x/scans",
            stations[n % len(stations)],
            "bad_signature",
            b"{}",
        )
    _fill_history(db, stations, numbers, t_end)
    data = ConsoleData(db)
    data.add_user("bench", "admin", accounts.hash_password(PASSWORD), units=(), now_ms=t_end)
    token, digest = new_token()
    data.add_api_token("bench", "viewer", digest, units=(), now_ms=t_end)
    store.close()
    return {
        "station": stations[len(stations) // 2],
        "location": locations[0],
        "employee": numbers[len(numbers) // 2],
        "name": "santoso 12",
        "from_ms": str(t_end - DAY_MS),
        "token": token,
    }


_INSERT_SCAN = (
    "INSERT INTO scans (station, journal, fork, seq, scan_id, employee, serial, outcome, reason, "
    "direction, wall_ms, location, clock_synced, prev_hash, hash, body, received_ms) "
    "VALUES (?, ?, 0, ?, ?, ?, 1, ?, ?, 'in', ?, ?, TRUE, '', '', '{}', ?)"
)
REFUSED_EVERY = 500  # one scan in 500 is a revoked card: the alerts page lists them


def _scan_row(
    station: str, journal: str, seq: int, employee: str, location: str, wall: int
) -> tuple[object, ...]:
    outcome, reason = ("rejected", "revoked") if seq % REFUSED_EVERY == 0 else ("accepted", "ok")
    return (
        *(station, journal, seq, f"{station}-{seq}", employee, outcome, reason, wall, location),
        wall + 500,
    )


def _fill_history(db: Database, stations: list[str], numbers: list[str], t_end: int) -> None:
    """Telemetry history (the last day of every station, a week of the measured one) and one
    badge per employee, as a synced registry gives them."""
    from presensi.hub.telemetry import BUCKET_MS

    day, week = DAY_MS // BUCKET_MS, 7 * DAY_MS // BUCKET_MS
    measured = stations[len(stations) // 2]
    last = t_end - t_end % BUCKET_MS
    rows: list[tuple[object, ...]] = []
    for n, station in enumerate(stations):
        for k in range(week if station == measured else day):
            at = last - k * BUCKET_MS
            rows.append((station, at, at + 1000, k % 7, k % 11, 800 - k % 50, n % 17 != 0, k % 900))
            if len(rows) >= 20_000:
                _insert_samples(db, rows)
    _insert_samples(db, rows)
    valid_from, valid_until = (t_end - 30 * DAY_MS) // 1000, (t_end + 335 * DAY_MS) // 1000
    with db.transaction():
        db.executemany(
            "INSERT INTO badges (serial, employee, valid_from_s, valid_until_s, issued_ms, "
            "updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
            [(n + 1, e, valid_from, valid_until, t_end, t_end) for n, e in enumerate(numbers)],
        )


def _insert_samples(db: Database, rows: list[tuple[object, ...]]) -> None:
    with db.transaction():
        db.executemany(
            "INSERT INTO telemetry_samples (station, bucket_ms, received_ms, backlog, "
            "backlog_max, disk_free_mb, clock_synced, clock_offset_ms, decode_fps) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 9.5)",
            rows,
        )
    rows.clear()


# -- the writer: ingest's load -------------------------------------------------------------------


def writer(store_url: str, stop_file: str, per_s: int) -> None:
    """Commit `per_s` scans a second in transactions of 100 until `stop_file` exists; each
    scan's received_ms is its commit time (what the live pages measure from)."""
    from presensi.hub.store import SqlStore, open_store

    store = open_store(store_url)
    assert isinstance(store, SqlStore)
    db = store.database
    seq = 10_000_000
    step = 100 / per_s
    next_at = time.monotonic()
    while not Path(stop_file).exists():
        rows = []
        stamp = now_ms()
        for _ in range(100):
            seq += 1
            rows.append(
                (
                    "st-bench-0000",
                    "f" * 32,
                    seq,
                    f"w-{seq}",
                    "EMP-000001",
                    "accepted",
                    "ok",
                    stamp,
                    "lokasi-00",
                    stamp,
                )
            )
        with db.transaction():
            db.executemany(_INSERT_SCAN, rows)
        next_at += step
        time.sleep(max(0.0, next_at - time.monotonic()))
    store.close()


# -- the load process ----------------------------------------------------------------------------


def load(base: str, ids: dict[str, str], rounds: int, out: str, ready_file: str) -> None:
    """Log in, wait for the live pages to be open (`ready_file`), ask every page `rounds` times
    (CLIENTS readers at once, each going through the pages in its own order); write the
    figures to `out`."""
    asyncio.run(_load(base, ids, rounds, out, ready_file))


def live_pages_process(
    base: str, live_pages: int, out: str, ready_file: str, stop_file: str
) -> None:
    """Keep `live_pages` live pages open until `stop_file` exists; every LIVE_SAMPLE-th of
    them reads its events and records each scan's delay from its commit, the others only take
    the bytes (as a browser would: the console sends every page everything). In a process of
    its own: reading 200 pages' events must not delay the page readers' clocks."""
    asyncio.run(_live(base, live_pages, out, ready_file, stop_file))


LIVE_SAMPLE = 10  # one live page in this many measures its events' delays


async def _login(client: Any) -> None:
    form = (await client.get("/masuk")).text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    data = {"csrf": token.group(1), "user": "bench", "password": PASSWORD, "next": "/"}
    assert (await client.post("/masuk", data=data)).status_code == 303


async def _live(base: str, live_pages: int, out: str, ready_file: str, stop_file: str) -> None:
    import httpx

    limits = httpx.Limits(max_connections=live_pages + 2, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await _login(client)
        delays: list[float] = []

        async def live_page(n: int) -> None:
            async with client.stream("GET", "/langsung/aliran") as stream:
                if n % LIVE_SAMPLE:
                    async for _ in stream.aiter_raw():
                        pass
                    return
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        at = now_ms()
                        delays.extend(at - int(e["received_ms"]) for e in json.loads(line[6:]))

        pages = [asyncio.create_task(live_page(n)) for n in range(live_pages)]
        await asyncio.sleep(2)
        delays.clear()  # from here on: all pages open
        Path(ready_file).touch()
        while not Path(stop_file).exists():
            await asyncio.sleep(0.2)
        for task in pages:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*pages, return_exceptions=True)
    Path(out).write_text(json.dumps({"live_ms": delays}))


async def _load(base: str, ids: dict[str, str], rounds: int, out: str, ready_file: str) -> None:
    import httpx

    # idle connections dropped by the client before uvicorn's 5 s keep-alive closes them: a
    # request sent on a connection the server is closing fails without an answer
    limits = httpx.Limits(max_connections=CLIENTS + 2, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await _login(client)
        deadline = time.monotonic() + 120
        while not Path(ready_file).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the live pages did not open within 120 s")
            await asyncio.sleep(0.1)
        times: dict[str, list[float]] = {name: [] for name in PAGES}
        headers = {"Authorization": f"Bearer {ids['token']}"}

        async def reader(n: int) -> None:
            order = list(PAGES.items())
            random.Random(n).shuffle(order)
            for _ in range(-(-rounds // CLIENTS)):
                for name, path in order:
                    if len(times[name]) >= rounds:
                        continue
                    url = path.format(**ids)
                    started = time.perf_counter()
                    answer = await _get(client, url, name.startswith("api") and headers)
                    times[name].append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url}: {answer.status_code}")

        await asyncio.gather(*(reader(n) for n in range(CLIENTS)))
    Path(out).write_text(json.dumps({"pages": times, "retried": len(RETRIED)}))


RETRIED: list[str] = []


async def _get(client: Any, url: str, headers: dict[str, str] | bool) -> Any:
    """GET, once more if the server closed the kept-alive connection as the request went out
    (uvicorn closes one idle for 5 s; a starved load process can take a connection from its
    pool later than it thinks). The time measured includes both tries; retries are counted."""
    import httpx

    try:
        return await client.get(url, headers=headers or None)
    except httpx.RemoteProtocolError:
        RETRIED.append(url)
        return await client.get(url, headers=headers or None)


# -- one run -------------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _vm_hwm_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def run_one(
    store_url: str,
    scale: Scale,
    folder: Path,
    rounds: int,
    live_pages: int = LIVE_PAGES,
    console_from: Path | None = None,
) -> dict[str, Any]:
    filled_at = time.monotonic()
    ids = fill(store_url, scale)
    fill_s = time.monotonic() - filled_at
    port = free_port()
    presensi = str(Path(sys.executable).with_name("presensi"))
    web = subprocess.Popen(
        [
            presensi,
            "hub",
            "web",
            "--store",
            store_url,
            "--listen",
            f"127.0.0.1:{port}",
            "--secret-file",
            str(folder / "secret"),
        ],
        stdout=(folder / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        env=_console_env(console_from),
    )
    stop_file = folder / "stop"
    context = multiprocessing.get_context("spawn")
    ingest = context.Process(target=writer, args=(store_url, str(stop_file), INGEST_PER_S))
    out, live_out, ready = folder / "load.json", folder / "live.json", folder / "live-ready"
    base = f"http://127.0.0.1:{port}"
    loaders: list[Any] = []  # the load process, once made
    watcher = context.Process(
        target=live_pages_process,
        args=(base, live_pages, str(live_out), str(ready), str(stop_file)),
    )
    try:
        _wait_port(port)
        ingest.start()
        watcher.start()
        loader = context.Process(target=load, args=(base, ids, rounds, str(out), str(ready)))
        loaders.append(loader)
        loader.start()
        loader.join(1800)
        if loader.exitcode != 0:
            log = (folder / "web.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(
                f"the load process failed (exit {loader.exitcode}); console exit "
                f"{web.poll()}, its log ends:\n{log}"
            )
        rss = _vm_hwm_mb(web.pid)
    finally:
        stop_file.touch()
        for helper in (ingest, watcher, *loaders):
            if helper.pid is not None:
                helper.join(60)
                if helper.is_alive():  # hung: not left behind
                    helper.kill()
                    helper.join(5)
        web.terminate()
        web.wait(20)
    if watcher.exitcode != 0:
        raise RuntimeError(f"the live pages' process failed (exit {watcher.exitcode})")
    figures = json.loads(out.read_text())
    pages = {
        name: {"n": len(v), "p50": _p(v, 0.50), "p95": _p(v, 0.95), "p99": _p(v, 0.99)}
        for name, v in figures["pages"].items()
    }
    floor = pages[BASELINE]["p95"] or 1.0
    for p in pages.values():
        p["p95_over_baseline"] = round((p["p95"] or 0) / floor, 1)
    live = json.loads(live_out.read_text())["live_ms"]
    measured = [p for name, p in pages.items() if name != BASELINE]
    return {
        "fill_s": round(fill_s, 1),
        "pages_ms": pages,
        "worst_p95_ms": max(p["p95"] or 0 for p in measured),
        "retried_requests": figures.get("retried", 0),
        "live_events": len(live),
        "live_ms": {"p50": _p(live, 0.5), "p99": _p(live, 0.99)},
        "console_rss_mb": rss,
    }


PARTS = ("protocol", "hardware", "device", "hub", "provisioning", "demo")


def _console_env(checkout: Path | None) -> dict[str, str] | None:
    """The console process's environment: with `checkout`, its code comes from that checkout
    (another commit's console under the same load, for an A/B on a shared machine)."""
    if checkout is None:
        return None
    paths = [str(checkout / part / "src") for part in PARTS]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the console did not start")


@contextlib.contextmanager
def _stores(engine: str, folder: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    from presensi.demo.postgres import postgres_database, postgres_server

    with (
        postgres_server(os.environ.get(POSTGRES_ENV)) as conninfo,
        postgres_database(conninfo) as url,
    ):
        yield url


def run_console_bench(
    *,
    as_json: bool,
    quick: bool,
    engines: tuple[str, ...],
    live_pages: int = LIVE_PAGES,
    sizes: tuple[int, ...] = (42, 1000),
    console_from: Path | None = None,
) -> dict[str, Any]:
    scans = 100_000 if quick else 1_000_000
    every = {
        42: Scale("42 stations, 810 employees", 42, 810, scans),
        1000: Scale("1,000 stations, 100,000 employees", 1000, 100_000, scans),
    }
    scales = [every[size] for size in sorted(set(sizes))]
    rounds = 10 if quick else 120  # samples per page: enough for a p99 (the 2nd highest of 120)
    results: dict[str, Any] = {
        "scans": scans,
        "rounds": rounds,
        "live_pages": live_pages,
        "ingest_per_s": INGEST_PER_S,
        "console_from": str(console_from) if console_from else None,
    }
    for scale in scales:
        for engine in engines:
            folder = Path(tempfile.mkdtemp(prefix="presensi-console-bench-"))
            try:
                with _stores(engine, folder) as url:
                    key = f"{engine}: {scale.name}"
                    results[key] = run_one(url, scale, folder, rounds, live_pages, console_from)
                    if not as_json:
                        _print(key, results[key], live_pages)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(results))
    return results


def _print(key: str, r: dict[str, Any], live_pages: int) -> None:
    click.echo(
        f"\n{key}  (filled in {r['fill_s']} s; console RSS {r['console_rss_mb']} MB; "
        f"{r['retried_requests']} requests retried on a closed keep-alive connection)"
    )
    head = f"  {'page':18s} {'n':>5s} {'p50':>8s} {'p95':>8s} {'p99':>8s}"
    click.echo(f"{head}   ms   p95/{BASELINE}")
    for name, p in r["pages_ms"].items():
        click.echo(
            f"  {name:18s} {p['n']:>5} {p['p50']:>8} {p['p95']:>8} {p['p99']:>8}"
            f"   {p['p95_over_baseline']:>9}"
        )
    live = r["live_ms"]
    click.echo(
        f"  live: {live_pages} pages open, {r['live_events']} events measured on "
        f"{-(-live_pages // LIVE_SAMPLE)} of them, commit to event p50 {live['p50']} ms, "
        f"p99 {live['p99']} ms"
    )
