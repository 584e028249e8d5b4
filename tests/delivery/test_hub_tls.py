"""The hub on a TLS-only broker: a real Mosquitto with only an mqtts listener (client
certificates from the org CA, the production config and ACL), a station enrolled with its
bundle certificate, and the hub's ingest, publish-fleet and publish-settings logging in with
the hub's own certificate. A plain connection to that port is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner, Result

from presensi.demo.mosquitto import free_port
from presensi.device import config as station_config
from presensi.device.station import Parts, Station
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.broker import TlsFiles
from presensi.hub.service import Hub
from presensi.protocol.cli import main
from presensi.provisioning import badges
from presensi.provisioning.broker import mosquitto_conf, write_acl_file
from presensi.provisioning.ca import mosquitto_tls
from presensi.provisioning.employees import Employee
from presensi.provisioning.enroll import enroll_station
from presensi.provisioning.locations import import_locations, sample_csv_text
from presensi.provisioning.org import Org
from tests.conftest import MosquittoFactory

pytestmark = pytest.mark.mosquitto


def hub_cmd(*args: str) -> Result:
    return CliRunner().invoke(main, ["hub", *args])


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_ingest_and_the_publish_commands_work_over_tls_only(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang", with_ca=True)
    import_locations(org, sample_csv_text())
    ca = org.ca()
    files = tmp_path / "tls"
    files.mkdir()
    ca.issue_server_cert(["127.0.0.1", "localhost"]).write(files / "b.crt", files / "b.key")
    ca.issue_client_cert("hub").write(files / "hub.crt", files / "hub.key")
    port = free_port()
    url = f"mqtts://127.0.0.1:{port}"
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub_tls = TlsFiles(ca.cert_path, files / "hub.crt", files / "hub.key")
    hub = Hub(store_url, url, tls=hub_tls)  # migrates the store, so enrollment registers
    bundle = enroll_station(
        org, "st-tls-01", "pool-mangkang", broker_url=url, hub_store_url=store_url
    )
    write_acl_file(files / "acl", ["st-tls-01"], ["hub"])
    conf = mosquitto_conf(
        password_file=org.broker_dir / "passwd",
        acl_file=files / "acl",
        persistence_location=tmp_path / "persist",
        port=port,
        bind_address="127.0.0.1",
        tls=mosquitto_tls(ca.cert_path, files / "b.crt", files / "b.key"),
    )
    mosquitto_factory(port=port, base_config=conf)
    config = station_config.load(bundle / "station.toml")
    config = msgspec.structs.replace(
        config,
        station=msgspec.structs.replace(config.station, duplicate_window_s=0),
        journal=msgspec.structs.replace(config.journal, path=str(tmp_path / "j.db"), min_free_mb=1),
        uplink=msgspec.structs.replace(config.uplink, reconnect_min_s=0.2, reconnect_max_s=1.0),
    )
    station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
    thread = threading.Thread(target=station.run, daemon=True)
    hub.start()
    thread.start()
    tls_args = ["--ca-file", str(ca.cert_path), "--cert-file", str(files / "hub.crt")]
    tls_args += ["--key-file", str(files / "hub.key")]
    try:
        assert hub.ingest.connected.wait(15), "the hub did not log in over TLS"
        (badge,) = badges.issue(org, [Employee("TS-0101", "Budi Santoso", "Pramudi", "pagi")])
        clock = [time.monotonic_ns()]

        def scan() -> None:
            clock[0] += 10**10
            assert station.loop.handle([badge.token], clock[0])

        for _ in range(3):
            scan()
        assert wait_for(station.delivered)
        assert hub.store.count_scans("st-tls-01") == 3
        # publish-settings and publish-fleet over TLS, with the hub's certificate
        settings = hub_cmd(
            *["publish-settings", "st-tls-01", "--version", "7", "--mode", "out"],
            *["--broker", url, *tls_args],
        )
        assert settings.exit_code == 0, settings.output
        assert wait_for(lambda: station.decider.config_version == 7)
        badges.revoke(org, "TS-0101", "kartu hilang")
        fleet = hub_cmd(
            *["publish-fleet", "--revocations", str(org.revocations_signed_path)],
            *["--broker", url, *tls_args],
        )
        assert fleet.exit_code == 0, fleet.output
        assert wait_for(lambda: badge.serial in station.decider.revoked.serials)
        # a plain connection to the TLS port gets nowhere, with a clear line and no traceback
        plain = hub_cmd(
            *["publish-fleet", "--revocations", str(org.revocations_signed_path)],
            *["--broker", f"mqtt://127.0.0.1:{port}"],
        )
        assert plain.exit_code == 2 and "Traceback" not in plain.output
        # TLS files with a plain URL is a mistake the command says
        wrong = hub_cmd(
            *["publish-fleet", "--revocations", str(org.revocations_signed_path)],
            *["--broker", f"mqtt://127.0.0.1:{port}", *tls_args],
        )
        assert wrong.exit_code == 2 and "not mqtts://" in wrong.output
    finally:
        station.stop()
        thread.join(10)
        hub.close()
