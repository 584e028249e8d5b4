"""What a holder of a station's key can and cannot do to the hub, end to end (a real Mosquitto,
a real hub, a real station): a record edited under an existing (station, journal, seq) key is a
`conflicting_duplicate` reject and an alert the operator sees (`presensi hub alerts`, the fleet
table's alert count), never a silent row; a batch declaring a floor of 10^12 is refused and acks
nothing past what the station holds."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto
from presensi.protocol import topics, wire
from presensi.protocol.cli import main
from presensi.protocol.keys import load_signing_key
from tests.brokers import Probe
from tests.delivery.fleet import Fleet, FleetStation

pytestmark = pytest.mark.mosquitto

FAST: dict[str, float] = {"batch_size": 20, "resend_s": 1, "telemetry_s": 0.3}


def wait_for(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def publish_signed(mosquitto: Mosquitto, station: FleetStation, batch: wire.Batch) -> None:
    """Publish `batch` on the station's scans topic, signed with the station's own key."""
    key = load_signing_key(station.folder.folder / "station.key")
    with Probe(mosquitto.port, f"{station.id}-key-holder").connect_ok() as thief:
        thief.publish(topics.station_topic(station.id, "scans"), wire.sign_batch(batch, key))


def hub_cli(*args: str) -> str:
    result = CliRunner().invoke(main, ["hub", *args])
    assert result.exit_code == 0, result.output
    return result.output


def open_alerts_of(output: str, station: str) -> int:
    """The fleet table's `alerts` column for `station` (the state may be two words)."""
    lines = output.splitlines()
    header = next(line for line in lines if line.startswith("station "))
    row = next(line for line in lines if line.startswith(station + " "))
    start = header.index("alerts") - 1  # right-aligned in 6 columns after a space
    return int(row[start : start + 7].strip())


def test_an_edited_record_under_an_existing_key_is_an_alert_the_operator_sees(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    (a,) = fleet.add_stations(1, uplink=FAST)
    hub = fleet.start_hub()
    a.start()
    a.scan(3)
    assert wait_for(lambda: a.station is not None and a.station.delivered())
    assert open_alerts_of(hub_cli("stations", "--store", fleet.store_url), a.id) == 0
    original = a.recorded[1]  # seq 2, committed
    edited = msgspec.structs.replace(original, employee="EMP-99999", direction="out")
    assert (edited.station, edited.journal, edited.seq) == (a.id, original.journal, 2)
    publish_signed(mosquitto, a, wire.batch_of(a.id, original.journal, [edited]))
    assert wait_for(lambda: hub.store.alerts() != []), "no alert for the edited record"
    [alert] = hub.store.alerts()
    assert (alert.station, alert.kind) == (a.id, "conflicting_duplicate")
    rejects = [r for r in hub.store.rejects(100) if r.station == a.id]
    assert [(r.reason, r.seq) for r in rejects] == [("conflicting_duplicate", 2)]
    # the operator sees it: in the alert list and as an open alert in the fleet table
    listed = hub_cli("alerts", "--store", fleet.store_url)
    assert f"#{alert.id} " in listed and a.id in listed and "conflicting_duplicate" in listed
    assert open_alerts_of(hub_cli("stations", "--store", fleet.store_url), a.id) == 1
    # the stored record is the station's own, not the edit; nothing else changed
    held = {r.seq: r for r in hub.store.scans(a.id)}
    assert held[2].employee == original.employee and held[2].scan_id == original.scan_id
    a.scan(2)
    assert wait_for(lambda: a.station is not None and a.station.delivered())
    fleet.check_exactly_once()
    hub_cli("alerts", "--store", fleet.store_url, "clear", str(alert.id))
    assert open_alerts_of(hub_cli("stations", "--store", fleet.store_url), a.id) == 0


def test_a_v2_batch_with_a_floor_of_10_to_the_12_is_refused_and_acks_nothing_more(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    (a,) = fleet.add_stations(1, uplink=FAST)
    hub = fleet.start_hub()
    a.start()
    a.scan(3)
    assert wait_for(lambda: a.station is not None and a.station.delivered())
    journal = a.recorded[0].journal
    with Probe(mosquitto.port, "ack-watcher").connect_ok() as watcher:
        watcher.subscribe(topics.station_topic(a.id, "ack"))
        while not watcher.messages.empty():  # the retained ack of what was committed
            watcher.messages.get_nowait()
        # the station's next record as it could be (seq 4), under a floor far past it
        nxt = msgspec.structs.replace(
            a.recorded[2], seq=4, scan_id=f"{'0' * 8}-0000-7000-8000-{'f' * 12}"
        )
        batch = wire.Batch(wire.BATCH_VERSION, a.id, [nxt], journal, floor=10**12)
        assert batch.v == 2
        publish_signed(mosquitto, a, batch)
        assert wait_for(lambda: hub.store.rejects(100) != [])
        [reject] = hub.store.rejects(100)
        assert "batch floor 1000000000000" in reject.reason, reject
        time.sleep(0.5)
        acks = []
        while not watcher.messages.empty():
            acks.append(wire.decode(watcher.messages.get_nowait().payload, wire.Ack))
    assert all(ack.upto <= 3 for ack in acks), acks
    assert hub.store.committed_upto(a.id) == 3
    assert [r.seq for r in hub.store.scans(a.id)] == [1, 2, 3]
    assert not any(j.unsent for j in hub.store.journals(a.id))  # no giant gap recorded
    a.scan(2)
    assert wait_for(lambda: a.station is not None and a.station.delivered())
    fleet.check_exactly_once()
