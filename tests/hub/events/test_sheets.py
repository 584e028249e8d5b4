"""The event sheets the hub retains on each station's event topic, through a real Mosquitto:
the hub's run loop publishes the event a station serves now or next (with its participants),
withdraws it when the event is cancelled, and sends nothing again while nothing changed;
`presensi hub event publish` does it once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto
from presensi.hub.events import model, sheets
from presensi.hub.service import Hub
from presensi.hub.store import SqlStore, open_store
from presensi.protocol import wire
from presensi.protocol.cli import main

from .test_events import STATIONS, apel, prepared

pytestmark = pytest.mark.mosquitto


class Retained:
    """What the broker holds on the stations' event topics, as a station would receive it."""

    def __init__(self, broker: Mosquitto) -> None:
        self.got: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("presensi/v1/stations/+/event", qos=1)
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got[message.topic.split("/")[3]] = bytes(message.payload)

    def wait(self, station: str, check: object, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                payload = self.got.get(station)
            if payload is not None and check(payload):  # type: ignore[operator]
                return payload
            time.sleep(0.05)
        raise AssertionError(f"{station}: {self.got.get(station)!r}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_the_hub_keeps_each_stations_sheet(mosquitto: Mosquitto, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    prepared(store)
    db = store.database
    today = dt.datetime.now(dt.UTC).date()
    model.add_events(
        db, model.plan_events(db, apel(day=today + dt.timedelta(days=1), timezone="UTC")), "a", 1
    )
    hub = Hub(url, mosquitto.url, client_id="hub-sheets")
    hub.start()
    watcher = Retained(mosquitto)
    try:
        assert hub.ingest.connected.wait(10)
        assert hub.publish_event_sheets(force=True) == 3  # every station: 2 with, 1 without
        payload = watcher.wait(STATIONS[0], bool)
        sheet = wire.decode(payload, wire.EventSheet)
        assert sheet.event == "apel-senin" and sheet.name == "Apel pagi Senin"
        assert sheet.opens_ms == sheet.starts_ms - sheets.OPENS_BEFORE_MS
        assert {p.number for p in sheet.participants} == {f"ASN-00{n}" for n in range(1, 6)}
        assert ("ASN-004", "Dewi Lestari", "Bappeda") in {
            (p.number, p.name, p.unit) for p in sheet.participants
        }
        assert watcher.wait(STATIONS[1], bool) == payload
        assert hub.publish_event_sheets(force=True) == 0  # nothing changed: nothing sent
        model.cancel(db, "apel-senin", "admin", 2)
        assert hub.publish_event_sheets(force=True) == 2
        assert watcher.wait(STATIONS[0], lambda p: p == b"") == b""  # withdrawn
    finally:
        watcher.close()
        hub.close()
        store.close()


def test_publish_by_hand(mosquitto: Mosquitto, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        store.migrate()
        prepared(store)
        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        db = store.database
        model.add_events(db, model.plan_events(db, apel(day=tomorrow, timezone="UTC")), "a", 1)
    finally:
        store.close()
    watcher = Retained(mosquitto)
    try:
        done = CliRunner().invoke(
            main, ["hub", "event", "publish", "--store", url, "--broker", mosquitto.url]
        )
        assert done.exit_code == 0, done.output
        assert "2 stations with an event, 1 without" in done.output
        sheet = wire.decode(watcher.wait(STATIONS[1], bool), wire.EventSheet)
        assert sheet.event == "apel-senin"
    finally:
        watcher.close()
