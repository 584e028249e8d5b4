"""The first day, as docs/provisioning.md tells it, in its order: the admin makes the org, the
broker's files and the badges; a real Mosquitto starts from those files as its own `mosquitto`
user; the hub runs on SQLite or PostgreSQL; a camera station and a serial-scanner station (over
a pseudo-terminal) are enrolled, installed from their SD-card bundle and run; badges are
scanned; every scan is in the hub's store, once. Every step is the real `presensi` command in
a process of its own, as a reader of the docs would type it.

Where the test differs from a real site, and why: paths are under a temp folder instead of
/etc, /var/lib and /boot (the journal path in the installed station.toml is the only file
edited, to point there); the broker listens on a free loopback port; the camera is a watched
folder of badge images (a Pi camera cannot run here); units are started as the processes their
ExecStart names. It needs root (Mosquitto switches to its own user only when started as root).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import segno

from presensi.demo.mosquitto import free_port
from presensi.hub.store import open_store
from presensi.protocol import badge
from presensi.protocol.reasons import Outcome
from presensi.provisioning.org import Org
from tests.ci import cannot_run

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(600)]

ROOT = Path(__file__).parents[1]
PRESENSI = Path(sys.executable).with_name("presensi")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
# the commands whose lines docs/provisioning.md shows as systemd units, not typed
RUN_BY_UNITS = {"hub run", "station run"}


def wait_for(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def command_path(args: list[str]) -> str:
    """ "provision broker-install" of `presensi provision broker-install --etc ...`."""
    words = []
    for arg in args:
        if arg.startswith("-") or "/" in arg or "." in arg or len(words) == 3:
            break
        words.append(arg)
    return " ".join(words)


def documented_commands() -> list[str]:
    """The presensi commands of the first-day section, in order, each once."""
    text = (ROOT / "docs/provisioning.md").read_text(encoding="utf-8")
    section = text.split("## The first day, in order", 1)[1].split("\n## ", 1)[0]
    seen: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("presensi "):
                path = command_path(line.split()[1:])
                if path not in seen:
                    seen.append(path)
    return seen


@dataclass
class Site:
    """Everything the walk makes, and the commands it ran (for the docs' order)."""

    work: Path  # a temp folder the broker's own user can enter
    ran: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    outputs: dict[int, list[str]] = field(default_factory=dict)

    @property
    def org(self) -> Path:
        return self.work / "srv" / "org"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PRESENSI_ORG": str(self.org), "PYTHONUNBUFFERED": "1"}

    def presensi(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        path = command_path(list(args))
        if path not in self.ran:
            self.ran.append(path)
        done = subprocess.run(
            [str(PRESENSI), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.work,
            timeout=120,
            check=False,
        )
        if ok:
            assert done.returncode == 0, f"presensi {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def start(self, argv: list[str], *, record: str | None = None) -> subprocess.Popen[str]:
        if record is not None and record not in self.ran:
            self.ran.append(record)
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            cwd=self.work,
        )
        lines: list[str] = []
        self.outputs[process.pid] = lines
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
        self.processes.append(process)
        return process

    def output(self, process: subprocess.Popen[str]) -> str:
        return "".join(self.outputs[process.pid])

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def site() -> Iterator[Site]:
    if os.geteuid() != 0:
        cannot_run("the first-day walk starts Mosquitto as root so it can drop to its own user")
    work = Path(tempfile.mkdtemp(prefix="presensi-first-day-"))
    work.chmod(0o755)  # the broker, as `mosquitto`, must reach its files below
    s = Site(work)
    try:
        yield s
    finally:
        s.stop_all()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, site: Site) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{site.work / 'var/lib/presensi-hub/hub.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def stock_mosquitto(site: Site) -> tuple[Path, Path]:
    """Debian's stock /etc/mosquitto/mosquitto.conf, with its paths under the temp folder."""
    etc = site.work / "etc/mosquitto"
    (etc / "conf.d").mkdir(parents=True)
    run = site.work / "run/mosquitto"
    lib = site.work / "var/lib/mosquitto"
    for folder in (run, lib):
        folder.mkdir(parents=True)
        shutil.chown(folder, "mosquitto", "mosquitto")
    pid_file = run / "mosquitto.pid"
    (etc / "mosquitto.conf").write_text(
        "# Place your local configuration in /etc/mosquitto/conf.d/\n"
        f"pid_file {pid_file}\n"
        "persistence true\n"
        f"persistence_location {lib}/\n"
        "log_dest stderr\n"
        f"include_dir {etc / 'conf.d'}\n"
    )
    return etc, pid_file


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def printed_tokens(org_dir: Path) -> dict[str, str]:
    """The QR texts on the cards `badge issue` printed: badges are Ed25519-signed, and Ed25519
    signatures are deterministic, so signing each registry row again gives the very text."""
    org = Org.open(org_dir)
    key = org.signing_key()
    with sqlite3.connect(org_dir / "badges.db") as db:
        rows = db.execute("SELECT employee, serial, valid_from, valid_until FROM badges").fetchall()
    return {e: badge.issue(key, e, s, vf, vu).to_text() for e, s, vf, vu in rows}


def copy_to_card(bundle: Path, boot: Path) -> Path:
    """The installer's laptop copies the folder onto the FAT boot partition (no file modes)."""
    card = boot / "presensi"
    shutil.copytree(bundle, card, copy_function=shutil.copyfile)
    for path in [card, *card.iterdir()]:
        path.chmod(0o755)
    return card


def install_station(site: Site, station_id: str) -> Path:
    """The SD-card path: the bundle on the boot partition, installed by the first-boot unit's
    command; then the journal path pointed into the temp folder."""
    card = copy_to_card(site.org / "stations" / station_id, site.work / f"boot-{station_id}")
    etc = site.work / f"etc-{station_id}/presensi"
    done = site.presensi(
        *("station", "install-bundle", "--from", str(card), "--config-dir", str(etc)),
        "--no-self-test",
    )
    assert f"installed station {station_id}" in done.stdout
    assert not card.exists()  # the key and password are off the card
    config = etc / "station.toml"
    state = site.work / f"var-lib-{station_id}"
    state.mkdir()
    text = config.read_text()
    text = text.replace('"/var/lib/presensi/journal.db"', f'"{state / "journal.db"}"')
    config.write_text(text)
    return config


def put_badge(frames: Path, n: int, token: str) -> None:
    staging = frames / f".{n:03d}.png.part"
    segno.make(token, error="m").save(str(staging), kind="png", scale=6, border=4)
    staging.replace(frames / f"{n:03d}.png")


def test_the_first_day_runs_as_the_docs_say(site: Site, store_url: str) -> None:
    port = free_port()
    broker_url = f"mqtt://127.0.0.1:{port}"
    org = str(site.org)
    site.org.parent.mkdir(parents=True)
    etc_mosquitto, pid_file = stock_mosquitto(site)

    # -- the admin, once for the organisation -----------------------------------------------
    site.presensi("provision", "init", "--name", "Trans Semarang", "--timezone", "Asia/Jakarta")
    site.presensi("provision", "locations", "sample")
    employees = site.work / "karyawan.csv"
    subprocess.run(
        [str(PRESENSI), "provision", "employees", "sample", str(employees), "--count", "12"],
        check=True,
        capture_output=True,
        env=site.env(),
    )
    site.presensi("provision", "employees", "import", str(employees))
    site.presensi(
        *("provision", "broker", "--hub-user", "hub", "--out", f"{org}/broker"),
        *("--install-dir", str(etc_mosquitto / "presensi"), "--port", str(port)),
        *("--bind-address", "127.0.0.1"),
    )
    site.presensi(
        *("provision", "broker-install", "--no-reload", "--etc", str(etc_mosquitto)),
    )
    broker = site.start([MOSQUITTO, "-c", str(etc_mosquitto / "mosquitto.conf")])
    assert wait_for(lambda: pid_file.exists() and _listening(port)), site.output(broker)
    assert uid_of(broker.pid) == pwd.getpwnam("mosquitto").pw_uid  # it dropped root
    hub_password = site.work / "etc/presensi-hub/hub.password"
    hub_password.parent.mkdir(parents=True)
    shutil.copyfile(site.org / "broker/credentials/hub.password", hub_password)
    hub_password.chmod(0o640)
    if store_url.startswith("sqlite"):
        (site.work / "var/lib/presensi-hub").mkdir(parents=True)
    hub_login = ("--username", "hub", "--password-file", str(hub_password))
    hub = site.start(
        [str(PRESENSI), "hub", "run", "--store", store_url, "--broker", broker_url, *hub_login],
        record="hub run",
    )
    assert wait_for(lambda: "hub connected to the broker" in site.output(hub)), site.output(hub)
    fleet = site.presensi("hub", "stations", "--store", store_url)
    assert f": connected to 127.0.0.1:{port} since" in fleet.stdout, fleet.stdout
    site.presensi("badge", "issue", "--out", str(site.work / "kartu-2026.pdf"))
    synced = site.presensi("provision", "employees", "sync", "--hub-store", store_url)
    assert "12 employees" in synced.stdout and "12 new" in synced.stdout
    assert "12 badge changes" in synced.stdout  # the badges just issued, for the console
    points = site.presensi("provision", "locations", "sync", "--hub-store", store_url)
    assert "42 attendance points" in points.stdout
    site.presensi(
        *("hub", "publish-fleet", "--revocations", f"{org}/revocations.signed.json"),
        *("--broker", broker_url, *hub_login),
    )

    # -- the admin, for each station ----------------------------------------------------------
    frames = site.work / "var/lib/presensi-kiosk/frames"
    frames.mkdir(parents=True)
    master, slave = os.openpty()
    try:
        scanner_port = os.ttyname(slave)
        site.presensi(
            *("provision", "station", "--location", "term-mangkang", "--broker", broker_url),
            *("--hub-store", store_url, "--camera", "folder", "--camera-source", str(frames)),
            *("--indicator", "console"),
        )
        site.presensi(
            "provision", "broker-install", "--etc", str(etc_mosquitto), "--pid-file", str(pid_file)
        )
        site.presensi(
            *("provision", "station", "--location", "halte-balaikota", "--broker", broker_url),
            *("--hub-store", store_url, "--camera", "none", "--scanner-port", scanner_port),
            *("--indicator", "console"),
        )
        reload = site.presensi(
            "provision", "broker-install", "--etc", str(etc_mosquitto), "--pid-file", str(pid_file)
        )
        assert f"SIGHUP to Mosquitto (pid {broker.pid})" in reload.stdout

        # -- the installer, on site: the SD card, then the station's service -----------------
        camera_id, serial_id = "st-term-mangkang-01", "st-halte-balaikota-01"
        camera_station = site.start(
            [str(PRESENSI), "station", "run", "--config", str(install_station(site, camera_id))],
            record="station run",
        )
        serial_station = site.start(
            [str(PRESENSI), "station", "run", "--config", str(install_station(site, serial_id))],
        )
        store = open_store(store_url)
        try:

            def online() -> bool:
                rows = {row.id: row for row in store.stations()}
                return all(
                    rows.get(s) is not None and rows[s].online for s in (camera_id, serial_id)
                )

            assert wait_for(online), site.output(camera_station) + site.output(serial_station)
            tokens = printed_tokens(site.org)
            people = sorted(tokens)
            for n, person in enumerate(people[:3]):
                put_badge(frames, n, tokens[person])
            for person in people[3:6]:
                os.write(master, tokens[person].encode() + b"\r\n")

            def delivered() -> bool:
                return store.count_scans(camera_id) >= 3 and store.count_scans(serial_id) >= 3

            assert wait_for(delivered, 60), site.output(camera_station) + site.output(
                serial_station
            )
            fleet = site.presensi("hub", "stations", "--store", store_url)
            time.sleep(1.0)  # a late duplicate would show up by now
            got = {s: store.scans(s) for s in (camera_id, serial_id)}
            # read before the scanner's pty closes below (a closed pty is a scanner unplugged)
            station_logs = site.output(camera_station) + site.output(serial_station)
        finally:
            store.close()
    finally:
        os.close(master)
        os.close(slave)

    for station, people_there in ((camera_id, people[:3]), (serial_id, people[3:6])):
        records = got[station]
        assert sorted(r.employee for r in records) == sorted(people_there), records
        assert {r.outcome for r in records} == {Outcome.ACCEPTED}
        assert len({r.scan_id for r in records}) == len(records) == 3  # each once
        assert station in fleet.stdout
    assert "never seen" not in fleet.stdout
    for process in (camera_station, serial_station, hub):
        assert process.poll() is None, site.output(process)
    assert "failed" not in station_logs, station_logs

    # the commands ran are the documented ones, in the documented order
    assert documented_commands() == [c for c in site.ran if c in documented_commands()]
    assert [c for c in documented_commands() if c not in RUN_BY_UNITS] == [
        c for c in site.ran if c not in RUN_BY_UNITS
    ]


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_docs_first_day_lists_commands_that_exist() -> None:
    commands = documented_commands()
    assert commands[:2] == ["provision init", "provision locations sample"]
    assert "station install-bundle" in commands and "provision station" in commands
    for path in commands:
        done = subprocess.run(
            [str(PRESENSI), *path.split(), "--help"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (path, done.stderr)
