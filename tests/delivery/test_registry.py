"""The hub's view of the fleet (birth, last will, telemetry) and the fleet documents it
publishes (signed revocation lists) reaching the stations."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto
from presensi.protocol.cli import main
from presensi.protocol.fleet import revocations_document
from presensi.protocol.keys import Revocations, SigningKey
from presensi.protocol.reasons import Reason
from tests.delivery.fleet import Fleet


def wait_for(check, timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def rows(fleet: Fleet) -> dict[str, object]:
    store = fleet.store()
    try:
        return {r.id: r for r in store.stations()}
    finally:
        store.close()


def test_online_telemetry_and_last_will_show_in_the_fleet_table(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    a, b = fleet.add_stations(2)
    fleet.start_hub()
    a.start()
    b.start()
    a.scan(3)
    assert wait_for(
        lambda: all(
            getattr(r, "online", False) and getattr(r, "backlog", None) == 0
            for r in rows(fleet).values()
        )
    )
    assert wait_for(lambda: getattr(rows(fleet)["st-001"], "last_scan_ms", None) is not None)
    # b loses its connection without saying goodbye: the broker publishes its last will. It
    # must stay away: with jittered reconnects its first retry may come within milliseconds,
    # and its birth message would turn it online again before the table is read
    assert b.station is not None and b.station.uplink is not None
    b.station.uplink._connect = lambda: False  # type: ignore[method-assign]
    b.station.uplink._client.socket().close()
    assert wait_for(lambda: not getattr(rows(fleet)["st-002"], "online", True), timeout=90)
    result = CliRunner().invoke(main, ["hub", "stations", "--store", fleet.store_url])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "online" in lines["st-001"] and "offline" in lines["st-002"]


def test_a_signed_revocation_list_reaches_the_station_and_applies_offline(fleet: Fleet) -> None:
    (station,) = fleet.add_stations(1)
    hub = fleet.start_hub()
    station.start()
    assert station.station is not None
    token = station.folder.tokens[0]  # serial 1
    # a list signed by a key the station does not trust is ignored
    forged = revocations_document(Revocations(50, frozenset({1})), SigningKey.generate())
    hub.publish_fleet(revocations=forged)
    time.sleep(1)
    assert station.station.decider.revoked.version < 50
    hub.publish_fleet(revocations=revocations_document(Revocations(7, frozenset({1})), fleet.org))
    assert wait_for(
        lambda: station.station is not None and station.station.decider.revoked.version == 7
    )
    record = station.station.loop.handle([token], time.monotonic_ns() + 10**11)[0]
    assert record.reason is Reason.REVOKED
    assert station.station.uplink is not None
    assert station.station.uplink.state.applied["revocations"] == 7
    # the retained list also reaches a station that connects later
    (late,) = fleet.add_stations(1)
    late.start()
    assert wait_for(lambda: late.station is not None and late.station.decider.revoked.version == 7)


def test_remote_settings_apply_atomically_persist_and_are_reported(fleet: Fleet) -> None:
    from presensi.protocol import topics, wire
    from presensi.protocol.reasons import Outcome

    (station,) = fleet.add_stations(1)
    hub = fleet.start_hub()
    station.start()
    assert station.station is not None
    topic = topics.station_topic(station.id, "config")
    hub.ingest.publish(
        topic,
        wire.encode(wire.StationSettings(version=5, mode="event", event="apel-senin")),
        retain=True,
    )
    assert wait_for(
        lambda: station.station is not None and station.station.decider.config_version == 5
    )
    record = station.station.loop.handle([station.folder.tokens[0]], time.monotonic_ns() + 10**11)[
        0
    ]
    assert (record.direction, record.event, record.config_version) == ("event", "apel-senin", 5)
    assert record.outcome is Outcome.ACCEPTED
    # invalid settings (event mode without an event; an older version) change nothing
    hub.ingest.publish(
        topic, wire.encode(wire.StationSettings(version=6, mode="event", event="")), retain=True
    )
    time.sleep(1)
    assert station.station.decider.config_version == 5
    # kept across a restart (the hub is gone: nothing is re-sent)
    assert wait_for(lambda: getattr(rows(fleet)[station.id], "online", False))
    station.stop()
    fleet.hubs[0].close()
    station.start()
    assert station.station is not None and station.station.decider.station.event == "apel-senin"


def test_admin_commands_publish_settings_and_fleet_documents(fleet: Fleet, tmp_path: Path) -> None:
    (station,) = fleet.add_stations(1)
    fleet.start_hub()
    station.start()
    assert station.station is not None
    doc = tmp_path / "revocations.signed.json"
    doc.write_bytes(revocations_document(Revocations(9, frozenset({2})), fleet.org))
    runner = CliRunner()
    result = runner.invoke(
        main, ["hub", "publish-fleet", "--revocations", str(doc), "--broker", fleet.broker_url]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "hub",
            "publish-settings",
            station.id,
            "--version",
            "3",
            "--mode",
            "out",
            "--broker",
            fleet.broker_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert wait_for(
        lambda: (
            station.station is not None
            and station.station.decider.revoked.version == 9
            and station.station.decider.config_version == 3
        )
    )
    assert station.station.decider.station.mode == "out"
    unreachable = runner.invoke(
        main, ["hub", "publish-fleet", "--revocations", str(doc), "--broker", "mqtt://127.0.0.1:1"]
    )
    assert unreachable.exit_code == 2 and "cannot reach the broker" in unreachable.output
