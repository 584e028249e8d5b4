"""The admin's path end to end: an organisation, an enrolled station running from its bundle,
badges issued, revoked and keys rotated, all reaching the station through the hub and broker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgspec
from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto
from presensi.device import config as station_config
from presensi.device.station import Parts, Station
from presensi.hardware.indicator_memory import RecordingIndicator
from presensi.hub.service import Hub
from presensi.protocol.cli import main
from presensi.protocol.reasons import Reason
from presensi.provisioning import badges
from presensi.provisioning.employees import Employee
from presensi.provisioning.enroll import enroll_station
from presensi.provisioning.locations import import_locations, sample_csv_text
from presensi.provisioning.org import Org


def wait_for(check, timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_issue_revoke_and_rotate_reach_an_enrolled_station(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(store_url, mosquitto.url)  # migrates the store, so enrollment can register
    bundle = enroll_station(
        org, None, "pool-mangkang", broker_url=mosquitto.url, hub_store_url=store_url
    )
    config = station_config.load(bundle / "station.toml")
    state = tmp_path / "var"
    config = msgspec.structs.replace(
        config,
        station=msgspec.structs.replace(config.station, duplicate_window_s=0),  # scans repeat here
        journal=msgspec.structs.replace(
            config.journal, path=str(state / "journal.db"), min_free_mb=1
        ),
        uplink=msgspec.structs.replace(config.uplink, reconnect_min_s=0.2, reconnect_max_s=1.0),
    )
    station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
    thread = threading.Thread(target=station.run, daemon=True)
    hub.start()
    thread.start()
    clock = [time.monotonic_ns()]

    def scan(token: str) -> Reason:
        clock[0] += 10**11
        return station.loop.handle([token], clock[0])[0].reason

    def publish(*args: str) -> None:
        result = CliRunner().invoke(
            main, ["hub", "publish-fleet", *args, "--broker", mosquitto.url]
        )
        assert result.exit_code == 0, result.output

    try:
        first, second = badges.issue(
            org,
            [
                Employee("BUS-00001", "Budi Santoso", "Pramudi", "Pagi"),
                Employee("BUS-00002", "Siti Aminah", "Teknik", "Siang"),
            ],
        )
        assert scan(first.token) is Reason.OK
        # revoke: the signed list goes through the hub's broker to the station
        badges.revoke(org, "BUS-00001", "kartu hilang")
        publish("--revocations", str(org.revocations_signed_path))
        assert wait_for(lambda: scan(first.token) is Reason.REVOKED)
        # rotation: a new key signs new badges; old and new verify until the old key retires
        old_key = org.signing_key().key_id.hex()
        org.add_key()
        publish("--keys", str(org.org_keys_signed_path))
        (newer,) = badges.issue(org, [Employee("BUS-00003", "Andi Wijaya", "Operasional", "Malam")])
        assert wait_for(lambda: scan(newer.token) is Reason.OK)
        assert scan(second.token) is Reason.OK
        org.retire_key(old_key)
        publish("--keys", str(org.org_keys_signed_path))
        assert wait_for(lambda: scan(second.token) is Reason.UNKNOWN_KEY)
        assert scan(newer.token) is Reason.OK
        # every scan reached the hub
        assert wait_for(station.delivered)
        store = hub.store
        assert store.count_scans(config.station.id) == station.journal.last_seq
    finally:
        station.stop()
        thread.join(10)
        hub.close()
