"""`presensi hub bench-event`: a city ceremony (upacara) on this machine. 4,000 participants
from 20 units scan at 8 real stations (presensi.device.station.Station: journal, decider, scan
loop on gpiozero mock pins, uplink) through a real Mosquitto to the hub in a process of its own;
the board is followed as the console does: every 0.2 s (the console's feed interval) the board
is computed from the store, and each person's delay from their station's commit (the scan's
time) to the first board that counts them is recorded.

Time is compressed: the crowd that would come in 10 minutes comes in `--seconds` (60 by
default: 10x the ceremony's rate, a harder case). Reported: the board's delay p50/p95/p99,
what one board costs to compute, everyone counted exactly once (a tenth of the people scan a
second time, at another station), and the scan-to-signal time of the stations under that load.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

from presensi.demo.hub_bench import HubProcess, _p, register, start_broker, station_seed

UNITS = 20
POLL_S = 0.2  # the console's live feed polls the store this often


def _station(folder: Path, sid: str, broker_url: str, org_seed: bytes, people: int) -> Any:
    from presensi.device.testbed import create
    from presensi.protocol.keys import SigningKey, save_signing_key

    (folder / sid).mkdir(parents=True)
    save_signing_key(folder / sid / "station.key", SigningKey.from_seed(station_seed(sid)))
    return create(
        folder / sid,
        station=sid,
        employees=people,
        org_seed=org_seed,
        broker=broker_url,
        window_s=120,
        uplink={"batch_size": 50, "window": 8, "resend_s": 20, "telemetry_s": 60},
    )


def _event(db: Any, ids: list[str], people: int, seconds: float) -> Any:
    """The 4,000 (PEOPLE) of UNITS units, and the ceremony at the stations `ids`."""
    from presensi.hub.events import model
    from presensi.hub.people import Person, sync_people

    sync_people(
        db,
        [
            Person(f"EMP-{n:05d}", f"Peserta {n}", f"OPD {n % UNITS:02d}", "Kantor")
            for n in range(people)
        ],
        1,
    )
    # the ceremony in WIB; in UTC (seven hours apart) when WIB's midnight is too near for a
    # window on one date
    zone = zoneinfo.ZoneInfo("Asia/Jakarta")
    now = dt.datetime.now(zone)
    if not dt.time(1, 0) <= now.time() <= dt.time(22, 0):
        zone = zoneinfo.ZoneInfo("UTC")
        now = dt.datetime.now(zone)
    start = (now - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    end = now + dt.timedelta(seconds=min(seconds, 3600) + 600)
    late = (start + dt.timedelta(seconds=seconds / 2 + 60)).time()
    plan = model.Plan(
        "upacara-bench", "Upacara Hari Jadi Kota Semarang", "upacara", start.date(),
        start.time(), late, end.time(), "Alun-alun", tuple(ids),
        tuple(f"OPD {u:02d}" for u in range(UNITS)), (), True, zone.key,
    )  # fmt: skip
    model.add_events(db, model.plan_events(db, plan), "bench", 1)
    return model.get(db, "upacara-bench")


class Follower:
    """The board as the console follows it: computed every POLL_S; each person's delay from
    their scan to the first board that counts them."""

    def __init__(self, db: Any, event: Any) -> None:
        self.db, self.event = db, event
        self.counted_at: dict[str, float] = {}
        self.compute_ms: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from presensi.hub.events import results

        while not self.stop.is_set():
            started = time.perf_counter()
            board = results.board(self.db, self.event, int(time.time() * 1000))
            self.compute_ms.append((time.perf_counter() - started) * 1000)
            seen = time.time() * 1000
            for a in board.attendees:
                if a.counted and a.number not in self.counted_at and a.at_ms is not None:
                    self.counted_at[a.number] = seen - a.at_ms
            self.stop.wait(POLL_S)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def _crowd(people: int, stations: int, seconds: float) -> list[tuple[float, int, int]]:
    """(second, station, person): each person once at "their" station, a tenth of them again
    a second later at the next station."""
    share = max(1, people // stations)
    planned: list[tuple[float, int, int]] = []
    for n in range(people):
        k = min(n // share, stations - 1)
        planned.append((seconds * n / people, k, n))
        if n % 10 == 0:
            planned.append((seconds * n / people + 1.0, (k + 1) % stations, n))
    return sorted(planned)


def _start_stations(beds: list[Any]) -> list[tuple[Any, Any, threading.Thread]]:
    from gpiozero.pins.mock import MockFactory

    from presensi.device import config as station_config
    from presensi.device.station import Parts, Station
    from presensi.hardware.indicator_gpio import GpioIndicator

    running = []
    for bed in beds:
        indicator = GpioIndicator(17, 27, 22, pin_factory=MockFactory())
        station = Station(
            station_config.load(bed.config_path), Parts(indicator), exit_when_source_ends=False
        )
        thread = threading.Thread(target=station.run, daemon=True)
        thread.start()
        running.append((station, indicator, thread))
    return running


def run(people: int = 4000, stations: int = 8, seconds: float = 60.0) -> dict[str, Any]:
    from presensi.hub.events import results
    from presensi.hub.store import SqlStore, open_store
    from presensi.protocol.keys import SigningKey, raw_public

    with tempfile.TemporaryDirectory(prefix="presensi-event-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'hub.db'}"
        broker = start_broker(folder / "broker")
        ids = [f"st-alun-alun-{i + 1:02d}" for i in range(stations)]
        beds = [_station(folder, sid, broker.url, b"\x07" * 32, people) for sid in ids]
        keys = {sid: raw_public(SigningKey.from_seed(station_seed(sid)).public) for sid in ids}
        register(url, keys)
        store = open_store(url)
        assert isinstance(store, SqlStore)
        event = _event(store.database, ids, people, seconds)
        hub = HubProcess(url, broker.url)
        running: list[tuple[Any, Any, threading.Thread]] = []
        follower: Follower | None = None
        try:
            running = _start_stations(beds)
            follower = Follower(store.database, event)
            planned = _crowd(people, stations, seconds)
            began = time.monotonic()
            for at, k, n in planned:
                delay = began + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                running[k][0].loop.handle([beds[k].tokens[n]], time.monotonic_ns())
            delivered = all(_until(s.delivered, 120) for s, _, _ in running)
            _until(lambda: len(follower.counted_at) >= people, 30)
            follower.close()
            final = results.board(store.database, event, int(time.time() * 1000))
            scan_ms = [ns / 1e6 for s, _, _ in running for ns in s.loop.stats.latencies_ns]
        finally:
            if follower is not None:
                follower.close()
            for station, indicator, thread in running:
                station.stop()
                thread.join(15)
                indicator.close()
            hub.close()
            store.close()
            broker.close()
    delays = sorted(follower.counted_at.values())
    return {
        "people": people,
        "stations": stations,
        "seconds": seconds,
        "scans": len(planned),
        "compressed": round(600 / seconds, 1),
        "delivered": delivered,
        "counted": final.present,
        "expected": final.expected,
        "repeats_not_counted": final.repeats,
        "board_delay_ms": {
            "p50": _p(delays, 0.5),
            "p95": _p(delays, 0.95),
            "p99": _p(delays, 0.99),
            "max": round(delays[-1], 3) if delays else None,
        },
        "board_compute_ms": {
            "median": round(statistics.median(follower.compute_ms), 1),
            "max": round(max(follower.compute_ms), 1),
        },
        "scan_to_signal_ms": {"p50": _p(scan_ms, 0.5), "p99": _p(scan_ms, 0.99)},
    }


def _until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
