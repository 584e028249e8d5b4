"""Conformance: records and batches made by the firmware under MicroPython are ingested by the
real hub exactly once, through a real Mosquitto. Only the TCP socket is bridged
(tests/firmware/bridge.py); every MQTT byte comes from the firmware's own client."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.hub.model import StationInfo, StationRow
from presensi.hub.service import Hub
from presensi.hub.store import open_store
from presensi.protocol import badge
from presensi.protocol.fleet import revocations_document
from presensi.protocol.keys import Revocations, SigningKey, raw_public
from tests.firmware.bridge import SocketBridge
from tests.firmware.wasm import command
from tests.protocol.make_record_vectors import OUT as RECORD_VECTORS
from tests.protocol.make_vectors import OUT as BADGE_VECTORS

pytestmark = pytest.mark.mosquitto


def _station_row(store_url: str, done: Callable[[StationRow], bool]) -> StationRow:
    """The hub's row of the halte once `done` holds (the hub applies status messages async)."""
    deadline = time.monotonic() + 15
    while True:
        store = open_store(store_url)
        try:
            row = next(r for r in store.stations() if r.id == "halte-test-01")
        finally:
            store.close()
        if done(row) or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def test_firmware_scans_reach_the_real_hub_exactly_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    vectors = json.loads(BADGE_VECTORS.read_text())
    seed = json.loads(RECORD_VECTORS.read_text())["station_private_seed_hex"]
    vectors["station_private_seed_hex"] = seed
    org = SigningKey.from_seed(bytes.fromhex(vectors["org_private_seed_hex"]))
    now = vectors["now"]
    texts = [
        badge.issue(org, f"E-{i:03d}", 5000 + i, now - 86_400, now + 86_400).to_text()
        for i in range(30)
    ] + ["https://example.com/not-a-badge", vectors["cases"][1]["text"]]
    station = SigningKey.from_seed(bytes.fromhex(seed))
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(store_url)
    store.migrate()
    store.register_station(StationInfo("halte-test-01", raw_public(station.public), "halte-1"))
    store.close()
    hub = Hub(store_url, mosquitto.url)
    hub.start()
    bridge = SocketBridge()
    try:
        assert hub.ingest.connected.wait(10)
        # the hub publishes a signed revocation list (retained) for every station
        hub.publish_fleet(revocations=revocations_document(Revocations(7, frozenset({5029})), org))
        cmd = command(
            "deliver.py",
            json.dumps(vectors),
            str(mosquitto.port),
            json.dumps(texts),
            bridge_fd=bridge.fd_for_child(),
        )
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            pass_fds=(bridge.fd_for_child(),),
        )
        assert proc.returncode == 0, proc.stderr + proc.stdout
        first, delivered, again, revoked = (json.loads(x) for x in proc.stdout.splitlines())
        assert first["stored"] == list(range(1, 33))
        assert delivered["backlog"] == 0 and delivered["stats"]["batches"] >= 5
        assert again["backlog"] == 0 and again["last_seq"] == 37
        assert bridge.connects >= 2
        assert revoked["reason"] == "revoked"  # badge 5029, after the hub's list arrived
        assert revoked["versions"]["revocations"] == 7
        assert revoked["backlog"] == 0 and revoked["last_seq"] == 38
        # the halte is gone without a DISCONNECT: the broker publishes its last will
        bridge.close()
        row = _station_row(store_url, lambda r: r.online is False and r.version is not None)
        assert row.version == "presensi-halte/0.1.0"  # the station kind, the only difference
        assert row.boot_id == first["boot_id"]
    finally:
        bridge.close()
        hub.close()
    store = open_store(store_url)
    try:
        rows = store.scans("halte-test-01")
        assert [r.seq for r in rows] == list(range(1, 39))
        assert len({r.scan_id for r in rows}) == 38
        assert {r.journal for r in rows} == {first["journal"]}
        assert store.committed_upto("halte-test-01") == 38
        assert rows[-1].reason.value == "revoked"
        reasons = [r.reason.value for r in rows[:32]]
        assert reasons == ["ok"] * 30 + ["not_a_badge", "bad_signature"]
    finally:
        store.close()


def test_a_link_that_breaks_every_second_loses_and_doubles_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    vectors = json.loads(BADGE_VECTORS.read_text())
    seed = json.loads(RECORD_VECTORS.read_text())["station_private_seed_hex"]
    vectors["station_private_seed_hex"] = seed
    org = SigningKey.from_seed(bytes.fromhex(vectors["org_private_seed_hex"]))
    now = vectors["now"]
    texts = [
        badge.issue(org, f"F-{i:03d}", 7000 + i, now - 86_400, now + 86_400).to_text()
        for i in range(60)
    ]
    station = SigningKey.from_seed(bytes.fromhex(seed))
    store_url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(store_url)
    store.migrate()
    store.register_station(StationInfo("halte-test-01", raw_public(station.public), "halte-1"))
    store.close()
    hub = Hub(store_url, mosquitto.url)
    hub.start()
    bridge = SocketBridge(flap_every_s=1.0)
    try:
        assert hub.ingest.connected.wait(10)
        cmd = command(
            "deliver_flapping.py",
            json.dumps(vectors),
            str(mosquitto.port),
            json.dumps(texts),
            bridge_fd=bridge.fd_for_child(),
        )
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
            pass_fds=(bridge.fd_for_child(),),
        )
        assert proc.returncode == 0, proc.stderr + proc.stdout
        (result,) = (json.loads(x) for x in proc.stdout.splitlines())
    finally:
        bridge.close()
        hub.close()
    assert result["signalled"] == result["last_seq"] == 60
    assert result["backlog"] == 0
    assert result["faults"] == {}  # the link's faults are the uplink's business, not the scans'
    assert bridge.flaps >= 3 and result["stats"]["drops"] >= 3  # it really came and went
    store = open_store(store_url)
    try:
        rows = store.scans("halte-test-01")
        assert [r.seq for r in rows] == list(range(1, 61))
        assert len({r.scan_id for r in rows}) == 60
        assert store.committed_upto("halte-test-01") == 60
    finally:
        store.close()
