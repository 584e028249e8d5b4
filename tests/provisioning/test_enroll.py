"""Station enrollment: the bundle (files, modes, manifest, a station.toml the station loads), the
broker user and the hub registration it makes, what it refuses, and a station started from the
bundle that accepts the org's badges and delivers them through a real Mosquitto to the hub."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import threading
import time
import tty
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import free_port
from presensi.device import config as station_config
from presensi.device.config import ClockSection
from presensi.device.station import Parts, Station
from presensi.hardware.indicator import Signal
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.service import Hub
from presensi.hub.store import StationInfo, open_store
from presensi.protocol import badge
from presensi.protocol.cli import main
from presensi.protocol.keys import Revocations, SigningKey, load_signing_key, raw_public
from presensi.protocol.reasons import Outcome, Reason
from presensi.provisioning.broker import verify_password
from presensi.provisioning.enroll import enroll_station, verify_bundle
from presensi.provisioning.errors import ProvisioningError
from presensi.provisioning.locations import import_locations, sample_csv_text
from presensi.provisioning.org import Org
from tests.conftest import MosquittoFactory

BROKER = "mqtts://hub.transsemarang.example:8883"
DAY = 86_400
BUNDLE_FILES = {
    "README.txt",
    "broker.password",
    "manifest.json",
    "org-keys.json",
    "revocations.json",
    "station.key",
    "station.toml",
}


@pytest.fixture
def org(tmp_path: Path) -> Org:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    return org


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def passwd(org: Org) -> dict[str, str]:
    lines = (org.broker_dir / "passwd").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines)


def token(key: SigningKey, employee: str, serial: int) -> str:
    now = int(time.time())
    return badge.issue(key, employee, serial, now - DAY, now + 365 * DAY).to_text()


def test_the_bundle_loads_and_matches_the_hub_and_the_broker(org: Org, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    bundle = enroll_station(org, None, "pool-mangkang", broker_url=BROKER, hub_store_url=store_url)

    assert bundle == org.stations_dir / "st-pool-mangkang-01"
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES
    assert mode(bundle) == 0o700
    assert mode(bundle / "station.key") == mode(bundle / "broker.password") == 0o600

    config = station_config.load(bundle / "station.toml")
    assert (config.station.id, config.station.location) == ("st-pool-mangkang-01", "pool-mangkang")
    assert config.station.timezone == "Asia/Jakarta"
    assert (config.camera.backend, config.indicator.backend) == ("picamera2", "gpio")
    assert config.journal.path == "/var/lib/presensi/journal.db"
    assert (config.uplink.broker, config.uplink.username) == (BROKER, "st-pool-mangkang-01")
    assert config.uplink.ca_file == ""  # no org CA
    # key paths are relative to the bundle, so it can be moved as a whole
    assert config.path(config.keys.station_key) == bundle / "station.key"
    assert config.path(config.keys.org_keys).read_bytes() == org.org_keys_path.read_bytes()
    assert json.loads(config.path(config.keys.revocations).read_text()) == {
        "version": 1,
        "serials": [],
    }

    # the hub store holds the bundle's public key and the location
    public = raw_public(load_signing_key(bundle / "station.key").public)
    store = open_store(store_url)
    try:
        assert store.station_keys() == {"st-pool-mangkang-01": public}
        assert [(s.id, s.location) for s in store.stations()] == [
            ("st-pool-mangkang-01", "pool-mangkang")
        ]
    finally:
        store.close()

    # the broker's password file has the user, with the bundle's password
    password = (bundle / "broker.password").read_text().strip()
    assert verify_password(password, passwd(org)["st-pool-mangkang-01"])
    credential = org.broker_dir / "credentials" / "st-pool-mangkang-01.password"
    assert credential.read_text().strip() == password
    assert "pattern write presensi/v1/stations/%u/scans" in (org.broker_dir / "acl").read_text()

    # the manifest covers every other file, with its SHA-256
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["station"] == "st-pool-mangkang-01"
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == BUNDLE_FILES - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    assert listed["station.key"]["mode"] == "0600"
    assert verify_bundle(bundle)["station"] == "st-pool-mangkang-01"
    (bundle / "station.toml").write_text("# changed\n")
    with pytest.raises(ProvisioningError, match=r"station\.toml differs from manifest\.json"):
        verify_bundle(bundle)


def test_more_stations_keep_every_existing_password(org: Org, tmp_path: Path) -> None:
    made = CliRunner().invoke(
        main,
        [
            "provision",
            "broker",
            "--out",
            str(org.broker_dir),
            "--station",
            "st-old",
            "--hub-user",
            "hub",
        ],
    )
    assert made.exit_code == 0, made.output
    before = passwd(org)
    acl = (org.broker_dir / "acl").read_bytes()

    first = enroll_station(org, None, "term-terboyo", broker_url=BROKER)
    second = enroll_station(org, None, "term-terboyo", broker_url=BROKER)
    named = enroll_station(org, "gate.blokm_3", "term-terboyo", broker_url=BROKER)
    assert [first.name, second.name, named.name] == [
        "st-term-terboyo-01",
        "st-term-terboyo-02",
        "gate.blokm_3",
    ]
    after = passwd(org)
    assert {user: after[user] for user in before} == before
    assert set(after) == {*before, "st-term-terboyo-01", "st-term-terboyo-02", "gate.blokm_3"}
    assert (org.broker_dir / "acl").read_bytes() == acl  # %u patterns cover new stations

    # and `provision broker` run again keeps the enrolled stations' passwords too
    again = CliRunner().invoke(
        main,
        [
            "provision", "broker", "--out", str(org.broker_dir), "--hub-user", "hub",
            "--station", "st-term-terboyo-01", "--station", "st-old",
        ],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    password = (first / "broker.password").read_text().strip()
    assert verify_password(password, passwd(org)["st-term-terboyo-01"])


def test_with_an_org_ca_the_bundle_carries_a_client_certificate(tmp_path: Path) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang", with_ca=True)
    import_locations(org, sample_csv_text())
    bundle = enroll_station(org, "st-halte-balaikota-01", "halte-balaikota", broker_url=BROKER)
    assert {p.name for p in bundle.iterdir()} == BUNDLE_FILES | {
        "ca.crt",
        "client.crt",
        "client.key",
    }
    assert mode(bundle / "client.key") == 0o600
    assert station_config.load(bundle / "station.toml").uplink.ca_file == "ca.crt"
    assert (org.ca_dir / "stations" / "st-halte-balaikota-01.crt").read_bytes() == (
        bundle / "client.crt"
    ).read_bytes()
    verify_bundle(bundle)


def test_refusals_write_nothing(org: Org, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    enroll_station(org, None, "pool-penggaron", broker_url=BROKER)
    store = open_store(store_url)
    store.migrate()
    store.register_station(StationInfo("st-taken", b"\x01" * 32, "pool-penggaron"))
    store.close()
    cases = [
        ({"location_id": "pool-pengaron"}, r"no attendance point 'pool-pengaron'"),
        ({"location_id": "penggaron"}, r"did you mean term-penggaron, pool-penggaron\?"),
        ({"station_id": "St Penggaron"}, r"station id 'St Penggaron' is not valid"),
        ({"station_id": "st-pool-penggaron-01"}, r"already enrolled"),
        ({"station_id": "hub"}, r"hub users named like stations"),
        ({"broker_url": "hub.example:1883"}, r"not mqtt://HOST\[:PORT\]"),
        ({"broker_url": "mqtt://host/path"}, r"not mqtt://HOST"),
        ({"station_id": "st-taken", "hub_store_url": store_url}, r"hub already has a station"),
    ]
    CliRunner().invoke(
        main,
        ["provision", "broker", "--out", str(org.broker_dir), "--station", "st-pool-penggaron-01",
         "--hub-user", "hub"],
    )  # fmt: skip
    before = passwd(org)
    for change, message in cases:
        args: dict[str, str] = {
            "station_id": "st-new",
            "location_id": "pool-penggaron",
            "broker_url": BROKER,
        }
        args.update(change)
        with pytest.raises(ProvisioningError, match=message):
            enroll_station(
                org,
                args["station_id"],
                args["location_id"],
                broker_url=args["broker_url"],
                hub_store_url=args.get("hub_store_url"),
            )
        assert [p.name for p in org.stations_dir.iterdir()] == ["st-pool-penggaron-01"]
        assert passwd(org) == before


def test_an_org_without_locations_is_explained(tmp_path: Path) -> None:
    org = Org.init(tmp_path / "org", "PT X")
    with pytest.raises(ProvisioningError, match="no attendance points yet"):
        enroll_station(org, None, "pool-mangkang", broker_url=BROKER)


def test_a_station_from_the_bundle_accepts_the_orgs_badges(org: Org, tmp_path: Path) -> None:
    key = org.signing_key()
    revoked_badge = token(key, "EMP-00099", 99)
    org.publish_revocations(Revocations(2, frozenset({99})))
    bundle = enroll_station(org, None, "term-sisemut", broker_url=BROKER)

    config = station_config.load(bundle / "station.toml")
    config = msgspec.structs.replace(  # what differs from a Pi: no broker, journal here
        config,
        journal=msgspec.structs.replace(config.journal, path=str(tmp_path / "journal.db")),
        uplink=msgspec.structs.replace(config.uplink, broker=""),
        clock=ClockSection(source="synced"),
    )
    indicator = RecordingIndicator()
    station = Station(config, Parts(indicator))
    try:
        texts = [
            token(key, "EMP-00001", 1),
            token(SigningKey.generate(), "EMP-00002", 2),
            revoked_badge,
        ]
        records = [station.loop.handle([t], time.monotonic_ns())[0] for t in texts]
    finally:
        station.close()
    assert [(r.station, r.location) for r in records] == [
        ("st-term-sisemut-01", "term-sisemut")
    ] * 3
    assert [(r.employee, r.outcome, r.reason) for r in records] == [
        ("EMP-00001", Outcome.ACCEPTED, Reason.OK),
        ("EMP-00002", Outcome.REJECTED, Reason.UNKNOWN_KEY),  # a badge of another org
        ("EMP-00099", Outcome.REJECTED, Reason.REVOKED),
    ]
    assert indicator.signals == [Signal.ACCEPTED_IN, Signal.REJECTED, Signal.REJECTED]


def test_enrolled_station_delivers_through_mosquitto_to_the_hub(
    org: Org, tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    """The whole path with what provisioning wrote: the broker's passwd and ACL (the station
    logs in with its bundle's password), the hub store (which checks the station's signature
    with the registered key), and the CLI that made it."""
    broker = mosquitto_factory(  # not started yet: its port is known, its files are not
        start=False,
        allow_anonymous=False,
        password_file=org.broker_dir / "passwd",
        acl_file=org.broker_dir / "acl",
        max_queued_messages=10_000,
    )
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    enrolled = runner.invoke(
        main,
        [
            "provision", "station", "--org", str(org.path), "--location", "pool-banyumanik",
            "--broker", broker.url, "--hub-store", store_url,
        ],
    )  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    assert "enrolled station st-pool-banyumanik-01" in enrolled.output
    hub_user = runner.invoke(
        main,
        ["provision", "broker", "--out", str(org.broker_dir), "--station", "st-pool-banyumanik-01",
         "--hub-user", "hub"],
    )  # fmt: skip
    assert hub_user.exit_code == 0, hub_user.output
    broker.start()

    bundle = org.stations_dir / "st-pool-banyumanik-01"
    config = station_config.load(bundle / "station.toml")
    config = msgspec.structs.replace(
        config,
        journal=msgspec.structs.replace(config.journal, path=str(tmp_path / "j.db")),
        uplink=msgspec.structs.replace(
            config.uplink, reconnect_min_s=0.1, reconnect_max_s=0.5, telemetry_s=1
        ),
        clock=ClockSection(source="synced"),
    )
    hub_password = (org.broker_dir / "credentials" / "hub.password").read_text().strip()
    hub = Hub(store_url, broker.url, username="hub", password=hub_password)
    hub.start()
    station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
    thread = threading.Thread(target=station.run, daemon=True)
    thread.start()
    try:
        key = org.signing_key()
        clock = time.monotonic_ns()
        for n in range(1, 4):
            clock += 2 * 10**9
            assert len(station.loop.handle([token(key, f"EMP-{n:05d}", n)], clock)) == 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not station.delivered():
            time.sleep(0.05)
        assert station.delivered(), broker.log_tail()
        assert hub.store.count_scans("st-pool-banyumanik-01") == 3
        assert not hub.store.rejects()
    finally:
        station.stop()
        thread.join(10)
        hub.close()


def test_a_second_hub_store_registers_the_enrolled_stations_from_the_org(
    org: Org, tmp_path: Path
) -> None:
    first = f"sqlite:///{tmp_path / 'hub-a.db'}"
    a = enroll_station(org, None, "pool-mangkang", broker_url=BROKER, hub_store_url=first)
    b = enroll_station(org, None, "halte-balaikota", broker_url=BROKER, hub_store_url=first)
    second = f"sqlite:///{tmp_path / 'hub-b.db'}"  # a fallback hub, or a new one after a fire
    result = CliRunner().invoke(
        main, ["provision", "register", "--org", str(org.path), "--hub-store", second]
    )
    assert result.exit_code == 0, result.output
    assert f"registered {a.name} (pool-mangkang)" in result.output
    assert "2 stations registered" in result.output
    stores = [open_store(url) for url in (first, second)]
    try:
        assert stores[0].station_keys() == stores[1].station_keys()
        assert {r.id: r.location for r in stores[1].stations()} == {
            a.name: "pool-mangkang",
            b.name: "halte-balaikota",
        }
    finally:
        for store in stores:
            store.close()
    again = CliRunner().invoke(
        main, ["provision", "register", "--org", str(org.path), "--hub-store", second]
    )
    assert again.exit_code == 0  # idempotent


def test_register_with_nothing_enrolled_says_so(org: Org, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["provision", "register", "--org", str(org.path), "--hub-store", str(tmp_path / "x.db")],
    )
    assert result.exit_code == 2 and "no enrolled stations" in result.output


def test_every_kind_of_station_can_be_enrolled_and_changed_later(org: Org) -> None:
    from presensi.provisioning.serial_flash import read_bundle

    halte = CliRunner().invoke(
        main,
        [
            *("provision", "station", "--org", str(org.path), "--location", "halte-balaikota"),
            *("--broker", BROKER, "--camera", "none", "--scanner-port", "/dev/serial0"),
            *("--scanner-baud", "115200", "--mode", "in"),
        ],
    )
    assert halte.exit_code == 0, halte.output
    bundle = org.stations_dir / "st-halte-balaikota-01"
    config = station_config.load(bundle / "station.toml")
    assert (config.camera.backend, config.scanner.port, config.scanner.baudrate) == (
        "none",
        "/dev/serial0",
        115200,
    )
    assert (config.indicator.backend, config.station.mode) == ("gpio", "in")
    verify_bundle(bundle)
    key_before = (bundle / "station.key").read_bytes()
    # the halte gets a USB camera after all: the bundle is changed, not enrolled again
    changed = CliRunner().invoke(
        main,
        [
            *("provision", "station-hardware", "--org", str(org.path), bundle.name),
            *("--camera", "opencv", "--camera-source", "/dev/video0", "--indicator", "console"),
        ],
    )
    assert changed.exit_code == 0, changed.output
    config = station_config.load(bundle / "station.toml")
    assert (config.camera.backend, config.camera.source, config.indicator.backend) == (
        "opencv",
        "/dev/video0",
        "console",
    )
    assert config.station.id == bundle.name and (bundle / "station.key").read_bytes() == key_before
    verify_bundle(bundle)
    assert read_bundle(bundle, bundle.name).station_id == bundle.name  # the flasher takes it
    refused = CliRunner().invoke(
        main,
        [
            "provision",
            "station",
            "--org",
            str(org.path),
            "--location",
            "pool-mangkang",
            "--broker",
            BROKER,
            "--camera",
            "none",
        ],
    )
    assert refused.exit_code == 2 and "needs a serial scanner" in refused.output


@pytest.mark.skipif(sys.platform != "linux", reason="a pseudo-terminal as the scanner's port")
def test_the_self_test_checks_a_serial_scanner_station_as_it_was_enrolled(
    org: Org, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 3: the installer's self-test reports against the hardware the admin gave
    at enrollment. A halte with no camera and a serial QR module (here a pseudo-terminal): the
    camera check says there is none and why that is fine, the scanner check opens that port at
    that baud rate; once the module is gone, the scanner check fails and names the port."""
    from presensi.device.selftest import format_report, run_self_test
    from presensi.provisioning import enroll

    # the bundle's journal lives where a station keeps it; here, a temp folder
    monkeypatch.setattr(enroll, "JOURNAL_PATH", str(tmp_path / "var" / "journal.db"))
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    try:
        result = CliRunner().invoke(
            main,
            [
                *("provision", "station", "--org", str(org.path), "--location", "halte-balaikota"),
                *("--broker", f"mqtt://127.0.0.1:{free_port()}", "--camera", "none"),
                *("--scanner-port", port, "--scanner-baud", "115200", "--indicator", "console"),
            ],
        )
        assert result.exit_code == 0, result.output
        config_path = org.stations_dir / "st-halte-balaikota-01" / "station.toml"
        report = run_self_test(config_path, broker_timeout=0.5)
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["camera"]["ok"], checks["camera"]
        assert checks["camera"]["detail"] == (
            f"no camera configured (scanning with the serial scanner on {port})"
        )
        assert checks["scanner"] == {
            **checks["scanner"],
            "ok": True,
            "detail": f"serial scanner port {port} opens at 115200 baud",
        }
        assert all(checks[f"signal {s}"]["ok"] for s in Signal)  # the console indicator
        assert checks["journal"]["ok"] and str(tmp_path / "var") in checks["journal"]["detail"]
        assert not checks["broker"]["ok"]  # nobody listens there: reported, not raised
        table = format_report(report, unicode=False)
        line = rf"\n  OK +scanner +serial scanner port {re.escape(port)} opens at 115200 baud"
        assert re.search(line, table), table
    finally:
        os.close(master)
        os.close(slave)
    gone = {c["name"]: c for c in run_self_test(config_path, broker_timeout=0.5)["checks"]}
    assert not gone["scanner"]["ok"] and port in gone["scanner"]["detail"], gone["scanner"]
    assert gone["camera"]["ok"]  # still no camera, still fine


@pytest.mark.parametrize(
    ("install_dir", "install", "copy_to"),
    [
        (None, "broker-install --from {broker}`", "/etc/mosquitto/presensi/passwd"),
        ("/srv/mqtt/presensi", "broker-install --from {broker} --etc /srv/mqtt`", None),
        ("/opt/broker-files", None, "/opt/broker-files/passwd"),
    ],
)
def test_what_the_broker_needs_after_enrollment_follows_the_install_dir(
    org: Org, install_dir: str | None, install: str | None, copy_to: str | None
) -> None:
    """`provision station` says where the broker reads its password file: where `provision
    broker --install-dir` put it (the default /etc/mosquitto/presensi, or another)."""
    broker = org.broker_dir
    args = ["provision", "broker", "--out", str(broker), "--hub-user", "hub"]
    made = CliRunner().invoke(
        main, [*args, *(["--install-dir", install_dir] if install_dir else [])]
    )
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(
        main,
        [
            *("provision", "station", "--org", str(org.path), "--location", "pool-mangkang"),
            *("--broker", BROKER),
        ],
    )
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "must learn the new user" in line]
    installed = copy_to or f"{install_dir}/passwd"
    assert f"copy {broker / 'passwd'} to {installed} " in line, line
    if install is None:
        assert "broker-install" not in line, line  # it installs into ETC/presensi/ only
    else:
        assert install.format(broker=broker) in line, line
    if install_dir is not None:
        assert "/etc/mosquitto/presensi" not in line, line


def test_a_kiosk_station_watches_a_folder_that_another_program_feeds(org: Org) -> None:
    args = ["provision", "station", "--org", str(org.path), "--location", "kantor-blu"]
    args += ["--broker", BROKER, "--camera", "folder", "--indicator", "console"]
    relative = CliRunner().invoke(main, [*args, "--camera-source", "frames"])
    assert relative.exit_code == 2 and "absolute path" in relative.output
    assert not list(org.stations_dir.glob("*"))  # nothing enrolled by the refused command
    done = CliRunner().invoke(main, [*args, "--camera-source", "/var/lib/presensi/frames"])
    assert done.exit_code == 0, done.output
    (bundle,) = org.stations_dir.iterdir()
    config = station_config.load(bundle / "station.toml")
    assert (config.camera.backend, config.camera.source, config.camera.watch) == (
        "folder",
        "/var/lib/presensi/frames",
        True,
    )
    verify_bundle(bundle)
