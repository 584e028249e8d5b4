"""End to end: a sheet retained on a station's event topic in a real Mosquitto reaches a real
station process (`presensi station run`, a watched folder camera), which records its scans
for the event, delivers them carrying the event id, and shows them on its own board."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from presensi.demo.mosquitto import free_port
from presensi.protocol import topics, wire
from presensi.protocol.reasons import Outcome
from tests.brokers import Probe
from tests.conftest import MosquittoFactory
from tests.device.test_station import journal_records
from tests.device.test_station_folder_watch import folder_station, put_badge, wait_for

pytestmark = [pytest.mark.mosquitto]

MINUTE = 60_000


def board(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/board.json", timeout=5) as r:
            data = json.loads(r.read())
    except OSError:
        return {}
    assert isinstance(data, dict)
    return data


def test_a_retained_sheet_reaches_a_station_process_whose_scans_carry_the_event(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    broker = mosquitto_factory(allow_anonymous=True, persistence=True)
    bed, frames = folder_station(tmp_path, watch=True, broker=broker.url)
    port = free_port()
    with bed.config_path.open("a") as fh:
        fh.write(f'[board]\nlisten = "127.0.0.1:{port}"\n')
    now = time.time_ns() // 1_000_000
    sheet = wire.EventSheet(
        version=3,
        event="apel-senin-2026-12-07",
        name="Apel pagi Senin",
        opens_ms=now - MINUTE,
        starts_ms=now,
        late_ms=now + 30 * MINUTE,
        ends_ms=now + 60 * MINUTE,
        participants=[
            wire.Participant("EMP-00000", "Ani", "Bappeda"),
            wire.Participant("EMP-00001", "Budi", "Bappeda"),
        ],
    )
    station = "st-test-01"
    with Probe(broker.port, "hub-test") as hub:
        hub.connect_ok()
        hub.publish(topics.station_topic(station, "event"), wire.encode(sheet), retain=True)
        hub.subscribe(topics.station_topic(station, "scans"))
        presensi = Path(sys.executable).with_name("presensi")
        process = subprocess.Popen(
            [str(presensi), "station", "run", "--config", str(bed.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert wait_for(lambda: board(port).get("event") == sheet.event)
            assert (bed.folder / "event-sheet.json").exists()
            put_badge(frames, "a.png", bed.tokens[0], 7)
            assert wait_for(
                lambda: any(r.outcome is Outcome.ACCEPTED for r in journal_records(bed))
            )
            [record] = list(journal_records(bed))
            assert (record.direction, record.event) == ("event", sheet.event)
            # delivered over MQTT carrying the event id (the hub's ack is not needed here)
            message = hub.expect(timeout=20)
            body = json.loads(message.payload.partition(b"\n")[2])
            assert [(r["employee"], r["event"]) for r in body["records"]] == [
                ("EMP-00000", sheet.event)
            ]
            data = board(port)
            assert (data["present"], data["expected"]) == (1, 2)
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=20)[0]
    assert process.returncode == 0, output
    assert "event sheet version 3 kept" in output, output
