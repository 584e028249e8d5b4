"""Network faults between real hosts: three station processes, each in a network namespace of
its own, joined by veth pairs to a namespace holding the broker (a real Mosquitto), the hub
(`presensi hub run`) and a delaying relay. The stations scan all along (simulated camera);
faults come one after another: 30% packet loss, 2 s delay with jitter, a flapping link, one
station cut off for a minute, the broker gone for a minute. After each, the drain time (until
every station's backlog at the moment the fault healed is acked) is reported; at the end the
hub holds every signalled scan exactly once and every journal is acked.

Schedules are shortened from the field's (a minute for the partition, not ten) so that CI can
afford them; what they exercise is the same: reconnects, resends, the journal's backlog. This
kernel has no netem: loss is the kernel's (nftables random drops), flapping and partitions are
links set down, delay is tests/netfaults/relay.py (TCP level).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto, free_port
from presensi.device.killtest import SCAN_SIGNALS
from presensi.device.testbed import create
from presensi.hub.store import StationInfo, open_store
from presensi.protocol.keys import load_signing_key, raw_public
from tests.netfaults.netns import Link, Net, available

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RELAY_PORT = 1884
STATIONS = 3
DRAIN_LIMIT_S = 60.0
BROKER_RETURN_LIMIT_S = 30.0


@dataclass
class StationProc:
    id: str
    link: Link
    journal: Path
    config: Path
    logs: Path  # the folder of its processes' stderr files, one per start
    proc: subprocess.Popen[bytes]
    stderr: Path
    signalled: int = 0
    lines: list[str] = field(default_factory=list)
    starts: int = 1
    reader: threading.Thread | None = None

    def read(self, proc: subprocess.Popen[bytes]) -> None:
        """Count the scan signals on `proc`'s stdout (one reader per started process)."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if line.rsplit(" ", 1)[-1] in SCAN_SIGNALS:
                self.signalled += 1

    def start_reader(self) -> None:
        self.reader = threading.Thread(target=self.read, args=(self.proc,), daemon=True)
        self.reader.start()

    def stop(self) -> int:
        """SIGTERM sent before: its exit status, once its stdout is read to the end."""
        code = self.proc.wait(30)
        assert self.reader is not None
        self.reader.join(10)
        return code

    def restart(self, net: Net) -> None:
        """Start the station again (after it was stopped) with its config as it is now."""
        self.starts += 1
        self.stderr = self.logs / f"{self.id}.{self.starts}.stderr"
        self.proc = start_station(net, self.link, self.config, self.stderr)
        self.start_reader()

    def marks(self) -> tuple[int, int]:
        """(newest seq, acked) summed over the station's journals, read from its file. A read
        that fails (the station holding a lock at that moment) is tried again; one that keeps
        failing is an error, never a (0, 0) that could pass for "nothing to deliver"."""
        for attempt in range(50):
            try:
                db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5)
                try:
                    rows = db.execute(
                        "SELECT j.acked_upto, COALESCE((SELECT max(seq) FROM records r "
                        "WHERE r.jid = j.jid), j.base_seq) FROM journals j"
                    ).fetchall()
                finally:
                    db.close()
            except sqlite3.Error as exc:
                if attempt == 49:
                    raise AssertionError(f"{self.id}: cannot read {self.journal}: {exc}") from exc
                time.sleep(0.1)
                continue
            if not rows:
                raise AssertionError(f"{self.id}: {self.journal} holds no journal")
            return sum(int(n) for _, n in rows), sum(min(int(a), int(n)) for a, n in rows)
        raise AssertionError("unreachable")


@dataclass
class World:
    net: Net
    broker: Mosquitto
    control: Path
    stations: list[StationProc]
    hub: subprocess.Popen[bytes]
    hub_stderr: Path
    store_url: str
    drains: dict[str, float] = field(default_factory=dict)

    def processes(self) -> list[tuple[str, subprocess.Popen[bytes], Path]]:
        """Every process that must stay alive while the test runs, with its stderr file."""
        return [("hub", self.hub, self.hub_stderr)] + [
            (s.id, s.proc, s.stderr) for s in self.stations
        ]

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        wait_for(check, timeout, what, self.processes())

    def set_delay(self, delay_s: float, jitter_s: float) -> None:
        self.control.write_text(json.dumps({"delay_s": delay_s, "jitter_s": jitter_s}))

    def drain(self, name: str, which: list[StationProc] | None = None) -> float:
        """Seconds until each station's backlog at this moment is acked."""
        which = self.stations if which is None else which
        targets = {s.id: s.marks()[0] for s in which}
        start = time.monotonic()
        self.wait_for(
            lambda: all(s.marks()[1] >= targets[s.id] for s in which),
            300,
            f"{name}: drained (backlogs {targets})",
        )
        took = time.monotonic() - start
        self.drains[name] = took
        print(f"{name}: drained in {took:.1f} s (backlogs {targets})")
        return took


def start_station(net: Net, link: Link, config: Path, stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("ab") as err:
        return subprocess.Popen(
            [
                *net.exec_prefix(link.namespace),
                str(BIN / "presensi"),
                "station",
                "run",
                "--config",
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
        )


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({exc})"
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: list[tuple[str, subprocess.Popen[bytes], Path]],
) -> None:
    """Wait until `check()`; fail at once (with its stderr) when a process in `alive` exits,
    since then the wait could only pass by luck or time out."""
    deadline = time.monotonic() + timeout
    while not check():
        for name, proc, stderr in alive:
            code = proc.poll()
            if code is not None:
                raise AssertionError(
                    f"{name} exited ({code}) while waiting for {what}; its stderr:\n" + tail(stderr)
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    why = available()
    if why is not None:
        pytest.skip(f"network namespaces unavailable here: {why}")
    net = Net(STATIONS).up()
    procs: list[subprocess.Popen[bytes]] = []
    stations: list[StationProc] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    hub_stderr = logs / "hub.stderr"
    broker = Mosquitto(
        tmp_path / "broker",
        port=free_port(),
        prefix=net.exec_prefix(net.core),
        max_queued_messages=100_000,
        max_inflight_messages=20,
    )
    try:
        broker.start()
        control = tmp_path / "relay.json"
        control.write_text("{}")
        listen = [f"{link.core_ip}:{RELAY_PORT}" for link in net.links]
        relay = subprocess.Popen(
            [
                *net.exec_prefix(net.core),
                sys.executable,
                "-m",
                "tests.netfaults.relay",
                str(control),
                *listen,
                "--to",
                f"127.0.0.1:{broker.port}",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        procs.append(relay)
        assert relay.stdout is not None and relay.stdout.readline().strip() == b"relaying"
        store_url = f"sqlite:///{tmp_path / 'hub.db'}"
        store = open_store(store_url)
        store.migrate()
        for link in net.links:
            sid = f"st-{link.station:03d}"
            bed = create(
                tmp_path / sid,
                station=sid,
                employees=30,
                fps=5.0,
                window_s=0,
                broker=f"mqtt://{link.core_ip}:{RELAY_PORT}",
                uplink={
                    "resend_s": 3,
                    "telemetry_s": 5,
                    "reconnect_min_s": 1,
                    "reconnect_max_s": 20,
                },
            )
            (bed.folder / "badges.txt").write_text("\n".join(bed.tokens * 100) + "\n")
            key = load_signing_key(bed.folder / "station.key")
            store.register_station(StationInfo(sid, raw_public(key.public), "pool-test"))
            stderr = logs / f"{sid}.1.stderr"
            proc = start_station(net, link, bed.config_path, stderr)
            procs.append(proc)
            station = StationProc(sid, link, bed.journal_path, bed.config_path, logs, proc, stderr)
            station.start_reader()
            stations.append(station)
        store.close()
        with hub_stderr.open("ab") as err:
            hub = subprocess.Popen(
                [
                    *net.exec_prefix(net.core),
                    str(BIN / "presensi"),
                    "hub",
                    "run",
                    "--store",
                    store_url,
                    "--broker",
                    f"mqtt://127.0.0.1:{broker.port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        procs.append(hub)
        yield World(net, broker, control, stations, hub, hub_stderr, store_url)
    finally:
        # shown by pytest when the test fails: what each process said on stderr
        for path in sorted(logs.glob("*.stderr")):
            print(f"--- {path.name} (last lines) ---\n{tail(path)}")
        for proc in procs + [s.proc for s in stations if s.proc not in procs]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs + [s.proc for s in stations if s.proc not in procs]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        broker.close()
        net.close()


@pytest.mark.xdist_group("cpu_heavy")  # its drains are timed: not beside the console bench
def test_every_scan_arrives_once_through_loss_delay_flapping_partition_and_outage(
    world: World,
) -> None:
    print(f"netem in this kernel: {world.net.netem}")
    world.wait_for(lambda: all(s.signalled >= 2 for s in world.stations), 120, "scanning")
    world.drain("baseline")

    for link in world.net.links:  # 30% packet loss either way, for 20 s
        world.net.loss(link, 30)
    time.sleep(20)
    for link in world.net.links:
        world.net.loss(link, 0)
    world.drain("30% loss (20 s)")

    world.set_delay(2.0, 0.5)  # 2 s delay, +/- 0.5 s jitter, for 20 s
    time.sleep(20)
    world.set_delay(0.0, 0.0)
    world.drain("2 s delay with jitter (20 s)")

    flapping = world.stations[1]
    for _ in range(8):  # its link down 2 s, up 2 s, for half a minute
        world.net.set_link(flapping.link, up=False)
        time.sleep(2)
        world.net.set_link(flapping.link, up=True)
        time.sleep(2)
    world.drain("flapping link (32 s)", [flapping])

    cut = world.stations[2]
    before = cut.signalled
    world.net.set_link(cut.link, up=False)  # cut off for a minute, scanning all along
    time.sleep(60)
    assert cut.signalled > before + 5, "the cut-off station kept scanning"
    world.net.set_link(cut.link, up=True)
    world.drain("partition of one station (60 s)", [cut])

    world.broker.stop()  # the broker away for a minute
    time.sleep(60)
    world.broker.start()
    took = world.drain("broker outage (60 s)")
    assert took <= BROKER_RETURN_LIMIT_S, f"delivery after the broker's return took {took:.1f} s"
    assert all(t <= DRAIN_LIMIT_S for t in world.drains.values()), world.drains

    # the stations stop scanning: each restarts with a camera that never sees a badge (a
    # watched, empty folder: a config the station accepts, so it runs and delivers what it
    # holds; `backend = "none"` without a scanner is refused and the station would exit 2)
    for s in world.stations:
        s.proc.send_signal(signal.SIGTERM)
    signalled: dict[str, int] = {}
    for s in world.stations:
        assert s.stop() == 0, tail(s.stderr)
        signalled[s.id] = s.signalled
        empty = s.config.parent / "no-badges"
        empty.mkdir()
        text = s.config.read_text()
        scanning = 'backend = "sim"\nsource = "badges.txt"\n'
        assert scanning in text, text
        s.config.write_text(
            text.replace(scanning, f'backend = "folder"\nsource = "{empty}"\nwatch = true\n')
        )
        check = subprocess.run(
            [str(BIN / "presensi"), "station", "check-config", "--config", str(s.config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        s.restart(world.net)
    try:
        world.wait_for(
            lambda: all(s.marks()[1] == s.marks()[0] for s in world.stations), 60, "delivery"
        )
        time.sleep(1)
        for name, proc, stderr in world.processes():  # the wait passed on running processes
            assert proc.poll() is None, f"{name} exited ({proc.returncode}):\n{tail(stderr)}"
        assert {s.id: s.signalled for s in world.stations} == signalled, "scanned after restart"
    finally:
        for s in world.stations:
            s.proc.send_signal(signal.SIGTERM)
        codes = {s.id: s.stop() for s in world.stations}
    assert set(codes.values()) == {0}, codes
    store = open_store(world.store_url)
    try:
        for s in world.stations:
            newest, acked = s.marks()
            held = store.scans(s.id)
            ids = [r.scan_id for r in held]
            assert len(ids) == len(set(ids)), f"{s.id}: a scan twice in the hub"
            assert len(held) == acked == newest == s.signalled, (s.id, len(held), acked, newest)
    finally:
        store.close()
    print("drain times:", json.dumps({k: round(v, 1) for k, v in world.drains.items()}))
