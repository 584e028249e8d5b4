"""A fleet on one machine for delivery tests: in-process stations (journal, decider, uplink;
scans injected into the scan loop) and hubs, against a real broker."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from presensi.device import config as station_config
from presensi.device.journal import Journal
from presensi.device.station import Parts, Station
from presensi.device.testbed import StationFolder, create
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.service import Hub
from presensi.hub.store import StationInfo, Store, open_store
from presensi.protocol.keys import SigningKey, load_signing_key, raw_public
from presensi.protocol.record import ScanRecord

ORG_SEED = b"\x11" * 32


class FleetStation:
    def __init__(self, folder: StationFolder) -> None:
        self.folder = folder
        self.station: Station | None = None
        self.signalled = 0
        self.recorded: list[ScanRecord] = []  # every record stored and signalled, in order
        self._thread: object = None
        self._clock_ns = time.monotonic_ns()

    @property
    def id(self) -> str:
        return self.folder.config_path.parent.name

    def start(self) -> None:
        import threading

        config = station_config.load(self.folder.config_path)
        self.station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
        thread = threading.Thread(target=self.station.run, daemon=True)
        thread.start()
        self._thread = thread

    def stop(self) -> None:
        if self.station is not None:
            self.station.stop()
            self._thread.join(10)  # type: ignore[attr-defined]
            self.station = None

    def scan(self, n: int) -> None:
        """n scans of distinct badges in a row (each stored and signalled)."""
        assert self.station is not None
        tokens = self.folder.tokens
        for _ in range(n):
            self._clock_ns += 2 * 10**9  # past the debouncer
            text = tokens[self.signalled % len(tokens)]
            stored = self.station.loop.handle([text], self._clock_ns)
            assert len(stored) == 1
            self.recorded.extend(stored)
            self.signalled += 1

    def journal_state(self) -> tuple[int, int]:
        """(last seq, acked mark) read from the journal file."""
        j = Journal(self.folder.journal_path, self.id, min_free_bytes=0, check_integrity=False)
        try:
            return j.newest_seq(), j.acked_upto
        finally:
            j.close()


class Fleet:
    def __init__(self, tmp: Path, broker_url: str, *, store_url: str | None = None) -> None:
        self.tmp = tmp
        self.broker_url = broker_url
        self.store_url = store_url or f"sqlite:///{tmp / 'hub.db'}"
        self.org = SigningKey.from_seed(ORG_SEED)
        self.stations: list[FleetStation] = []
        self.hubs: list[Hub] = []

    def add_stations(
        self, n: int, *, uplink: dict[str, float] | None = None, employees: int = 50
    ) -> list[FleetStation]:
        store = self.store()
        made = []
        for _ in range(n):
            sid = f"st-{len(self.stations) + 1:03d}"
            folder = create(
                self.tmp / sid,
                station=sid,
                employees=employees,
                broker=self.broker_url,
                org_seed=ORG_SEED,
                window_s=0,
                uplink=uplink,
            )
            key = load_signing_key(folder.folder / "station.key")
            store.register_station(StationInfo(sid, raw_public(key.public), "pool-test"))
            station = FleetStation(folder)
            self.stations.append(station)
            made.append(station)
        store.close()
        return made

    def store(self) -> Store:
        store = open_store(self.store_url)
        store.migrate()
        return store

    def start_hub(self, *, hub_class: Callable[..., Hub] = Hub, **kw: object) -> Hub:
        kw.setdefault("client_id", f"presensi-hub-{len(self.hubs)}")
        hub = hub_class(self.store_url, self.broker_url, **kw)
        hub.start()
        assert hub.ingest.connected.wait(10), "hub did not connect"
        self.hubs.append(hub)
        return hub

    def wait_delivered(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.station is not None and s.station.delivered() for s in self.stations):
                return True
            time.sleep(0.1)
        return False

    def check_exactly_once(self) -> None:
        """Hub rows = signalled scans, no duplicate, no gap, every journal fully acked."""
        store = self.store()
        try:
            for s in self.stations:
                records = store.scans(s.id)
                seqs = [r.seq for r in records]
                assert seqs == list(range(1, s.signalled + 1)), (
                    f"{s.id}: hub has {len(seqs)} of {s.signalled}"
                )
                assert len({r.scan_id for r in records}) == len(records), f"{s.id}: duplicate scans"
                assert store.committed_upto(s.id) == s.signalled
                last, acked = s.journal_state()
                assert (last, acked) == (s.signalled, s.signalled), (
                    f"{s.id}: journal {last}, acked {acked}"
                )
        finally:
            store.close()

    def close(self) -> None:
        for s in self.stations:
            s.stop()
        for hub in self.hubs:
            with contextlib.suppress(Exception):  # a hub a test crashed on purpose
                hub.close()
