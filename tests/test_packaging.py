"""The split installs: a station's venv holds presensi-device, presensi-hardware and
presensi-protocol from a wheel folder, offline, and nothing of the hub or the admin tools; it runs
from its enrollment bundle against a real Mosquitto and a hub from the full install, and its
scans land in the hub's store. A part installed without one it needs fails at install time."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno

from presensi.demo.mosquitto import Mosquitto
from presensi.hub.store import open_store
from presensi.provisioning import badges
from presensi.provisioning.employees import Employee
from presensi.provisioning.org import Org
from tests.packaging import STATION_PARTS, InstallError, Venv, offline_install, wheelhouse

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(900)]

NOT_ON_A_STATION = {"reportlab", "psycopg", "psycopg-binary", "amqtt", "presensi-hub"}
NOT_ON_A_STATION |= {"presensi-provisioning", "presensi-demo", "opencv-python-headless"}
EMPLOYEES = [
    Employee("TS-0101", "Budi Santoso", "Pramudi Koridor I", "pagi"),
    Employee("TS-0102", "Siti Rahayu", "Pramudi Koridor II", "pagi"),
    Employee("TS-0207", "Agus Prasetyo", "Teknisi Pool Mangkang", "siang"),
    Employee("TS-0311", "Dewi Lestari", "Petugas Halte", "pagi"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def station_wheels(work: Path) -> Path:
    return wheelhouse(work / "wheels-station", "station")


@pytest.fixture(scope="module")
def station_venv(work: Path, station_wheels: Path) -> Venv:
    return offline_install(work / "station", station_wheels, "presensi-device")


@pytest.fixture(scope="module")
def full_venv(work: Path) -> Venv:
    wheels = wheelhouse(work / "wheels-all", "all")
    return offline_install(work / "full", wheels, "presensi")


def run(venv: Venv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.presensi), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_station_installs_only_the_station(station_venv: Venv) -> None:
    installed = station_venv.distributions()
    assert {"presensi-device", "presensi-hardware", "presensi-protocol", "paho-mqtt"} <= installed
    assert not installed & NOT_ON_A_STATION
    tree = station_venv.site_packages() / "presensi"
    assert sorted(p.name for p in tree.iterdir() if p.is_dir()) == list(sorted(STATION_PARTS))
    assert not (station_venv.site_packages() / "__init__.py").exists()
    for generic in ("device", "hub", "hardware", "protocol"):
        assert not (station_venv.site_packages() / generic).exists(), generic
    # everything the uplink needs imports
    done = subprocess.run(
        [str(station_venv.python), "-c", "import paho.mqtt.client, presensi.device.uplink"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_station_command_shows_the_station_only(station_venv: Venv) -> None:
    listed = run(station_venv, "--help")
    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split("Commands:")[1].split()
    assert commands[0] == "station"
    assert not {"hub", "provision", "badge", "demo"} & set(commands)
    for group, dist in [("hub", "presensi-hub"), ("badge", "presensi-provisioning")]:
        missing = run(station_venv, group, "stations")
        assert missing.returncode == 2
        assert missing.stderr.strip().splitlines() == [
            f"error: `presensi {group}` is not installed here: pip install {dist}"
        ]
    assert "Traceback" not in missing.stderr
    version = run(station_venv, "--version")
    assert version.stdout.split() == [
        "presensi-device",
        "0.1.0",
        "presensi-hardware",
        "0.1.0",
        "presensi-protocol",
        "0.1.0",
    ]


def test_a_part_without_one_it_needs_fails_at_install_naming_it(
    work: Path, station_wheels: Path
) -> None:
    partial = work / "wheels-no-hardware"
    shutil.copytree(station_wheels, partial)
    for wheel in partial.glob("presensi_hardware-*.whl"):
        wheel.unlink()
    with pytest.raises(InstallError) as failed:
        offline_install(work / "broken", partial, "presensi-device")
    assert "No matching distribution found for presensi-hardware==0.1.0" in str(failed.value)


def test_a_wheel_folder_for_a_raspberry_pi_holds_aarch64_wheels(work: Path) -> None:
    folder = wheelhouse(work / "wheels-pi", "station", pi=True)
    names = sorted(p.name for p in folder.glob("*.whl"))
    ours = [n for n in names if n.startswith("presensi_")]
    assert [n.split("-")[0] for n in ours] == [
        "presensi_device",
        "presensi_hardware",
        "presensi_protocol",
    ]
    assert all(n.endswith("-py3-none-any.whl") for n in ours)
    compiled = [n for n in names if not n.endswith("-any.whl")]
    assert {n.split("-")[0] for n in compiled} >= {"numpy", "pillow", "zxing_cpp", "msgspec"}
    assert all("aarch64" in n for n in compiled), compiled
    assert not any("x86_64" in n for n in names)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker", allow_anonymous=True) as started:
        yield started


def journal_on_this_machine(bundle: Path, state: Path) -> None:
    """The bundle's station.toml with the journal in a temp folder (not /var/lib/presensi): the
    only change; camera and indicator are what was enrolled."""
    config = bundle / "station.toml"
    text, changed = re.subn(
        r'(?m)^path = ".*"$', f'path = "{state / "journal.db"}"', config.read_text("utf-8")
    )
    assert changed == 1, "the enrolled journal section changed shape"
    config.write_text(text, encoding="utf-8")


def test_a_station_from_its_bundle_delivers_to_a_hub_of_the_full_install(
    tmp_path: Path, station_venv: Venv, full_venv: Venv, broker: Mosquitto
) -> None:
    org_dir = tmp_path / "org"
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    admin = [
        ("provision", "init", "--org", str(org_dir), "--name", "Trans Semarang"),
        ("provision", "locations", "sample", "--org", str(org_dir)),
    ]
    for args in admin:
        done = run(full_venv, *args)
        assert done.returncode == 0, done.stderr
    frames = tmp_path / "frames"  # the camera: a folder this test puts badge images in
    frames.mkdir()
    enrolled = run(
        full_venv,
        *("provision", "station", "--org", str(org_dir), "--location", "pool-mangkang"),
        *("--broker", broker.url, "--hub-store", store_url),
        *("--camera", "folder", "--camera-source", str(frames), "--indicator", "console"),
    )
    assert enrolled.returncode == 0, enrolled.stderr
    (bundle,) = (org_dir / "stations").iterdir()
    tokens = [b.token for b in badges.issue(Org.open(org_dir), EMPLOYEES)]
    for n, token in enumerate(tokens):
        segno.make(token, error="m").save(str(frames / f"{n:03d}.png"), scale=5, border=4)
    journal_on_this_machine(bundle, tmp_path / "state")

    hub = subprocess.Popen(
        [str(full_venv.presensi), "hub", "run", "--store", store_url, "--broker", broker.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    station = subprocess.Popen(
        [str(station_venv.presensi), "station", "run", "--config", str(bundle / "station.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    store = open_store(store_url)
    try:
        deadline = time.monotonic() + 60
        while store.count_scans(bundle.name) < len(tokens) and time.monotonic() < deadline:
            assert station.poll() is None, station.communicate()[0]
            assert hub.poll() is None, hub.communicate()[0]
            time.sleep(0.2)
        assert store.count_scans(bundle.name) == len(tokens)
    finally:
        store.close()
        for proc in (station, hub):
            proc.send_signal(signal.SIGTERM)
        station_out, _ = station.communicate(timeout=30)
        hub_out, _ = hub.communicate(timeout=30)
    assert station.returncode == 0, station_out
    assert hub.returncode == 0, hub_out
    assert station_out.count("accepted_in") == len(tokens), station_out
