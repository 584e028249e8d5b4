"""What an operator reading journalctl sees when the broker is away: the station says once that
it cannot reach the broker (not at every backoff try) and says when it is back; the hub says it
lost the broker and got it back, and records that where `presensi hub stations` shows it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from presensi.demo.mosquitto import free_port
from presensi.device import uplink as uplink_module
from presensi.hub.service import Hub
from tests.conftest import MosquittoFactory
from tests.delivery.fleet import Fleet

UPLINK = "presensi.device.uplink"
INGEST = "presensi.hub.ingest"


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def messages(
    caplog: pytest.LogCaptureFixture,
    logger: str,
    text: str,
    port: int | None = None,
    level: int = logging.WARNING,
) -> list[str]:
    """Messages of `logger` at `level` or above (warnings by default) containing `text`; with
    `port`, only those about this test's broker (caplog sees every thread of the worker, and
    another test's station may still be winding down)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == logger
        and r.levelno >= level
        and text in r.getMessage()
        and (port is None or f":{port}" in r.getMessage())
    ]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def fleet(tmp_path: Path, port: int) -> Iterator[Fleet]:
    f = Fleet(tmp_path, f"mqtt://127.0.0.1:{port}")
    yield f
    f.close()


@pytest.mark.mosquitto
def test_a_station_says_once_that_the_broker_is_unreachable_and_when_it_is_back(
    fleet: Fleet, port: int, mosquitto_factory: MosquittoFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (station,) = fleet.add_stations(1, uplink={"reconnect_min_s": 0.1, "reconnect_max_s": 0.3})
    station.start()
    assert station.station is not None
    uplink = station.station.uplink
    assert uplink is not None
    assert wait_for(lambda: uplink._failed_tries >= 5), "the uplink did not keep trying"
    unreachable = messages(caplog, UPLINK, "unreachable", port)
    assert len(unreachable) == 1, unreachable  # five tries or more, one line
    assert f"127.0.0.1:{port}" in unreachable[0]
    assert "scans are kept in the journal" in unreachable[0]
    station.scan(3)

    mosquitto_factory(port=port, allow_anonymous=True, persistence=True, max_queued_messages=0)
    assert wait_for(lambda: uplink.state.connected)
    (back,) = messages(caplog, UPLINK, "connected to", port)
    assert "failed tries" in back
    tries = int(back.split(" after ")[1].split()[0])
    assert tries >= 5


@pytest.mark.mosquitto
def test_a_long_outage_is_said_again_every_few_minutes_not_at_every_try(
    fleet: Fleet, port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(uplink_module, "UNREACHABLE_LOG_S", 0.5)
    caplog.set_level(logging.INFO)
    (station,) = fleet.add_stations(1, uplink={"reconnect_min_s": 0.05, "reconnect_max_s": 0.1})
    station.start()
    assert station.station is not None
    uplink = station.station.uplink
    assert uplink is not None
    time.sleep(1.7)
    tries = uplink._failed_tries
    said = messages(caplog, UPLINK, "unreachable", port)
    assert 2 <= len(said) <= 5, said  # about every 0.5 s over 1.7 s
    assert tries > 2 * len(said), (tries, said)  # fewer lines than tries


@pytest.mark.mosquitto
def test_the_hub_says_when_it_loses_the_broker_and_gets_it_back(
    fleet: Fleet, port: int, mosquitto_factory: MosquittoFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    broker = mosquitto_factory(port=port, allow_anonymous=True, persistence=True)
    hub = fleet.start_hub(client_id="presensi-hub-a")
    store = fleet.store()
    try:
        # the first connection is news (INFO, which hub run logs), not a warning
        assert messages(caplog, INGEST, "hub connected to the broker", level=logging.INFO)
        assert not messages(caplog, INGEST, "hub connected to the broker")
        (worker,) = store.hub_workers()
        assert (worker.client_id, worker.connected) == ("presensi-hub-a", True)
        assert worker.broker == f"127.0.0.1:{port}"

        broker.kill()
        assert wait_for(lambda: not hub.ingest.connected.is_set())
        assert wait_for(lambda: bool(messages(caplog, INGEST, "hub disconnected")))
        assert wait_for(lambda: not store.hub_workers()[0].connected)
        lost_at = store.hub_workers()[0].since_ms

        broker.restart()
        assert hub.ingest.connected.wait(30)
        assert wait_for(lambda: store.hub_workers()[0].connected)
        assert store.hub_workers()[0].since_ms >= lost_at
        # back after the loss (a warning): a warning too
        assert len(messages(caplog, INGEST, "hub connected to the broker")) == 1
        assert len(messages(caplog, INGEST, "hub connected", level=logging.INFO)) == 2
    finally:
        store.close()
    hub.close()
    fleet.hubs.remove(hub)
    fresh = fleet.store()
    try:
        assert not fresh.hub_workers()[0].connected  # a stopped hub is not connected either
    finally:
        fresh.close()


@pytest.mark.mosquitto
def test_a_hub_started_while_the_broker_is_down_says_so_once(
    fleet: Fleet, port: int, mosquitto_factory: MosquittoFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hub = Hub(fleet.store_url, fleet.broker_url, client_id="presensi-hub-early")
    hub.start()
    try:
        assert wait_for(lambda: hub.ingest.next_reconnect_pause > 0)
        time.sleep(1.5)  # several tries
        assert len(messages(caplog, INGEST, "hub cannot reach the broker", port)) == 1
        mosquitto_factory(port=port, allow_anonymous=True)
        assert hub.ingest.connected.wait(30)
        # the first connection after the outage is a warning, like any regained one
        assert len(messages(caplog, INGEST, "hub connected to the broker", port)) == 1
    finally:
        hub.close()
