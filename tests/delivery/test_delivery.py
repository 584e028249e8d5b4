"""Every scan reaches the hub exactly once, through broker, hub and station failures.
Real Mosquitto, started by the tests on free loopback ports."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.hub.service import Hub
from presensi.hub.store import IngestResult
from tests.conftest import MosquittoFactory
from tests.delivery.fleet import Fleet

FAST = {"batch_size": 50, "resend_s": 2}


def test_scans_reach_the_hub_exactly_once(fleet: Fleet) -> None:
    stations = fleet.add_stations(3, uplink=FAST)
    fleet.start_hub()
    for s in stations:
        s.start()
    for _ in range(5):
        for s in stations:
            s.scan(40)
    assert fleet.wait_delivered()
    fleet.check_exactly_once()


def test_broker_killed_and_restarted_mid_stream(fleet: Fleet, mosquitto: Mosquitto) -> None:
    stations = fleet.add_stations(2, uplink=FAST)
    fleet.start_hub()
    for s in stations:
        s.start()
        s.scan(100)
    mosquitto.kill()
    for s in stations:
        s.scan(100)  # the network is gone: the station keeps scanning
    mosquitto.restart()
    for s in stations:
        s.scan(50)
    assert fleet.wait_delivered()
    fleet.check_exactly_once()


def test_broker_restarted_with_its_persistence_wiped(fleet: Fleet, mosquitto: Mosquitto) -> None:
    stations = fleet.add_stations(2, uplink=FAST)
    fleet.start_hub()
    for s in stations:
        s.start()
        s.scan(150)
    mosquitto.kill()
    mosquitto.restart(wipe_persistence=True)  # sessions and queued messages are gone
    for s in stations:
        s.scan(50)
    assert fleet.wait_delivered()
    fleet.check_exactly_once()


class CrashAfterCommit(Hub):
    """A hub that dies between its database commit and its ack, once."""

    def start(self) -> None:
        ingest = self.ingest
        crashed: list[int] = []

        def acknowledge(result: IngestResult) -> None:
            if not crashed:
                crashed.append(1)
                raise SystemExit("hub crashed after commit, before ack")
            type(ingest)._acknowledge(ingest, result)

        ingest._acknowledge = acknowledge  # type: ignore[method-assign]
        super().start()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_hub_crash_between_commit_and_ack(fleet: Fleet) -> None:
    stations = fleet.add_stations(2, uplink=FAST)
    crashing = fleet.start_hub(hub_class=CrashAfterCommit)
    for s in stations:
        s.start()
        s.scan(60)
    deadline = time.monotonic() + 10
    while crashing.ingest._worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not crashing.ingest._worker.is_alive(), "the hub did not crash"
    crashing.ingest._client.disconnect()
    crashing.ingest._client.loop_stop()
    store = fleet.store()
    assert sum(store.committed_upto(s.id) for s in stations) > 0  # committed, never acked
    store.close()
    fleet.start_hub()  # a new hub process comes up on the same database
    for s in stations:
        s.scan(20)
    assert fleet.wait_delivered()
    fleet.check_exactly_once()


def test_hub_down_while_stations_keep_scanning(fleet: Fleet) -> None:
    stations = fleet.add_stations(3, uplink=FAST)
    hub = fleet.start_hub()
    for s in stations:
        s.start()
        s.scan(30)
    hub.close()
    for s in stations:
        s.scan(200)
    fleet.start_hub(client_id="presensi-hub-0")  # the same persistent session comes back
    assert fleet.wait_delivered()
    fleet.check_exactly_once()


def test_station_offline_for_10000_scans_then_back(fleet: Fleet, mosquitto: Mosquitto) -> None:
    (station,) = fleet.add_stations(1, uplink={"batch_size": 1000, "resend_s": 5}, employees=200)
    fleet.start_hub()
    mosquitto.stop()
    station.start()
    station.scan(10_000)
    assert station.journal_state() == (10_000, 0)
    mosquitto.restart()
    assert fleet.wait_delivered(timeout=120)
    fleet.check_exactly_once()


def test_42_stations_reconnect_at_once_with_default_queue_limits(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    # mosquitto's default max_queued_messages (1000): while the hub is away, the broker drops
    # what does not fit in its session queue. Only the hub's acks free records, so nothing is lost.
    broker = mosquitto_factory(persistence=True, max_queued_messages=None)
    fleet = Fleet(tmp_path, broker.url)
    try:
        stations = fleet.add_stations(42, uplink={"batch_size": 2, "window": 40, "resend_s": 3})
        hub = fleet.start_hub()
        hub.close()  # the hub's persistent session now queues at the broker
        for s in stations:
            s.start()
            s.scan(60)  # 30 batches each: 1,260 messages for a queue of 1,000
        deadline = time.monotonic() + 20
        while "dropped" not in broker.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "dropped" in broker.log_text(), "the broker never dropped: the test proves nothing"
        broker.kill()
        broker.restart()  # every station reconnects at once
        fleet.start_hub(client_id="presensi-hub-0")
        assert fleet.wait_delivered(timeout=120)
        fleet.check_exactly_once()
    finally:
        fleet.close()
