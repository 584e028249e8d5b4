"""One station's credentials in hostile hands, or one poisonous retained message: a real
Mosquitto, a real hub and real stations. Ingest never stalls for the others, nothing is held
unbounded, and a station survives anything on the topics it subscribes to."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto
from presensi.hub.store import REJECT_PAYLOAD_MAX, RejectRow
from presensi.protocol import topics, wire
from presensi.protocol.cli import main
from presensi.provisioning.broker import mosquitto_conf, write_acl_file, write_password_file
from tests.brokers import Probe
from tests.conftest import MosquittoFactory
from tests.delivery.fleet import Fleet, FleetStation

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.mosquitto

FAST: dict[str, float] = {"batch_size": 20, "resend_s": 1, "telemetry_s": 1}
TELEMETRY = b'{"ts_ms":1790000000000,"last_seq":1,"acked_upto":1,"backlog":0'


def latencies(fleet: Fleet, station: FleetStation, n: int, *, until: float = 0.0) -> list[float]:
    """Seconds from each scan being signalled to the hub having committed it: `n` scans, and
    more until time.monotonic() reaches `until`."""
    hub = fleet.hubs[0]
    out: list[float] = []
    while len(out) < n or time.monotonic() < until:
        before = hub.ingest.stats.records_inserted
        station.scan(1)
        start = time.monotonic()
        while hub.ingest.stats.records_inserted == before:
            assert time.monotonic() - start < 30, "a scan did not reach the hub in 30 s"
            time.sleep(0.002)
        out.append(time.monotonic() - start)
        time.sleep(0.05)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


FLOOD_S = 30.0  # as long as the flood that was seen (595 messages in 30 s stalled ingest)
FLOOD_RATE = 200  # messages a second: ten times the rate that was seen


def test_a_flood_of_poison_from_one_station_does_not_slow_the_others(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    """Station B's own credentials (its password, the production ACL) in hostile hands: for
    30 s a separate process floods B's topics with a mix of forged scans, status and telemetry
    with invalid UTF-8 in unknown fields, and nesting deeper than any parser, while station A
    scans. A's scan-to-hub latency must stay what it was in a quiet run."""
    passwords = {"st-001": "pw-a", "st-002": "pw-b", "hub": "pw-hub"}
    files = tmp_path / "broker-files"
    files.mkdir()
    write_password_file(files / "passwd", passwords)
    write_acl_file(files / "acl", ["st-001", "st-002"], ["hub"])
    broker = mosquitto_factory(
        allow_anonymous=False,
        password_file=files / "passwd",
        acl_file=files / "acl",
        max_queued_messages=100_000,  # with an ACL, a number (see presensi.demo.mosquitto)
    )
    fleet = Fleet(tmp_path, broker.url)
    try:
        a, b = fleet.add_stations(2, uplink=FAST)
        for s in (a, b):
            (s.folder.folder / "broker.password").write_text(passwords[s.id] + "\n")
            with s.folder.config_path.open("a") as config:  # [uplink] is the last section
                config.write(f'username = "{s.id}"\npassword_file = "broker.password"\n')
        hub = fleet.start_hub(username="hub", password=passwords["hub"])
        a.start()
        quiet = latencies(fleet, a, 60)
        flooder = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.delivery.flooder", str(broker.port)),
                *(b.id, passwords[b.id], str(FLOOD_S), "--rate", str(FLOOD_RATE)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert flooder.stdout is not None
            assert flooder.stdout.readline().strip() == "flooding"
            loud = latencies(fleet, a, 60, until=time.monotonic() + FLOOD_S - 1)
            out, _ = flooder.communicate(timeout=FLOOD_S + 30)
        finally:
            if flooder.poll() is None:
                flooder.kill()
                flooder.wait()
        assert flooder.returncode == 0
        sent = int(out.split()[-1])
        deadline = time.monotonic() + 30  # (station B never runs: only its thief does)
        while not (a.station is not None and a.station.delivered()):
            assert time.monotonic() < deadline, "station A did not deliver"
            time.sleep(0.05)
        fleet.check_exactly_once()
        q, lo = p95(quiet), p95(loud)
        print(
            f"scan-to-hub p95: quiet {q * 1000:.1f} ms ({len(quiet)} scans), during a flood of "
            f"{sent} messages in {FLOOD_S:.0f} s {lo * 1000:.1f} ms ({len(loud)} scans)"
        )
        # Within 2x of the quiet p95. A quiet p95 here is a few milliseconds, and this machine
        # is shared (other test runs, two cores, the flooder and Mosquitto busy on them): one
        # scheduling hiccup is tens of ms, so the bound is never tighter than the quiet p95 plus
        # 50 ms. The stall this guards against was a committed-nothing for the whole 30 s.
        assert lo <= max(2 * q, q + 0.05), (sorted(quiet)[-5:], sorted(loud)[-5:])
        stats = hub.ingest.stats
        assert sent >= FLOOD_S * FLOOD_RATE * 0.5, sent  # the flood was one
        assert stats.rejected >= sent * 0.9, (stats.rejected, sent)
        assert hub.ingest._worker.is_alive() and hub.ingest.store_ok
        rows = store_rows(fleet)
        assert rows and all(r.station == "st-002" for r in rows)
        assert len(rows) <= 2 * 21  # 20 a minute per station (+ a summary), over 2 minutes at most
        assert stats.rejects_dropped >= stats.rejected - len(rows) > 0
    finally:
        fleet.close()


def store_rows(fleet: Fleet) -> list[RejectRow]:
    store = fleet.store()
    try:
        return store.rejects(100_000)
    finally:
        store.close()


def test_an_oversized_message_is_refused_whole_and_never_kept_whole(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    fleet.add_stations(1, uplink=FAST)
    fleet.start_hub()
    big = TELEMETRY + b',"note":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    with Probe(mosquitto.port, "thief").connect_ok() as thief:
        thief.publish(topics.station_topic("st-001", "telemetry"), big)
    deadline = time.monotonic() + 60
    while not store_rows(fleet) and time.monotonic() < deadline:
        time.sleep(0.1)
    [row] = store_rows(fleet)
    assert row.payload_len == len(big) and len(row.payload) == REJECT_PAYLOAD_MAX
    assert "too large" in row.reason


def test_the_production_broker_refuses_messages_larger_than_any_presensi_message(
    tmp_path: Path,
) -> None:
    assert f"message_size_limit {wire.MAX_MESSAGE_BYTES}" in mosquitto_conf()
    limit = f"message_size_limit {wire.MAX_MESSAGE_BYTES}"
    with (
        Mosquitto(tmp_path / "broker", extra_config=[limit]) as broker,
        Probe(broker.port, "sub").connect_ok() as sub,
        Probe(broker.port, "pub").connect_ok() as pub,
    ):
        sub.subscribe("presensi/v1/#")
        topic = topics.station_topic("st-001", "telemetry")
        pub.publish(topic, b"x" * (wire.MAX_MESSAGE_BYTES + 1))
        pub.publish(topic, b"small")
        got = sub.expect(5)
        assert got.payload == b"small"  # the big one never reached a subscriber
        sub.expect_none(0.3)


def test_a_station_survives_poison_on_every_topic_it_subscribes_to(
    fleet: Fleet, mosquitto: Mosquitto
) -> None:
    (a,) = fleet.add_stations(1, uplink=FAST)
    fleet.start_hub()
    a.start()
    a.scan(3)
    assert fleet.wait_delivered()
    station = a.station
    assert station is not None and station.uplink is not None
    version_before = station.decider.config_version
    with Probe(mosquitto.port, "hostile-admin").connect_ok() as admin:
        nested = b"[" * 50_000 + b"]" * 50_000
        for topic in (topics.FLEET_KEYS, topics.FLEET_REVOCATIONS):
            admin.publish(topic, nested, retain=True)
        config = topics.station_topic(a.id, "config")
        admin.publish(config, b'{"version":9223372036854775808,"mode":"out"}', retain=True)
        admin.publish(topics.station_topic(a.id, "ack"), b'{"upto":' + b"9" * 5000 + b"}")
        admin.publish(topics.station_topic(a.id, "cmd"), b"\xff\xfe")
        event = topics.station_topic(a.id, "event")
        window = b'"opens_ms":2,"starts_ms":1,"late_ms":1,"ends_ms":3'  # out of order
        admin.publish(event, b'{"version":1,"event":"apel","name":"x",' + window + b"}")
        admin.publish(event, nested, retain=True)
        time.sleep(0.5)
        assert station.uplink.alive()
        a.scan(3)
        assert fleet.wait_delivered()
        # the session must not hand the same poison back forever: reconnect and deliver again
        a.stop()
        a.start()
        a.scan(3)
        assert fleet.wait_delivered()
        for topic in (topics.FLEET_KEYS, topics.FLEET_REVOCATIONS, config, event):
            admin.publish(topic, b"", retain=True)  # cleared
    assert a.station is not None and a.station.decider.config_version == version_before
    assert a.station.decider.sheet is None
    fleet.check_exactly_once()


def test_publish_settings_refuses_what_a_station_could_not_hold() -> None:
    runner = CliRunner()
    for args in (
        ["--version", "9223372036854775808"],
        ["--version", "2", "--duplicate-window", "100000"],
        ["--version", "2", "--location", "Halte Balai Kota"],
        ["--version", "2", "--event", "x" * 65],
    ):
        result = runner.invoke(
            main, ["hub", "publish-settings", "st-001", *args, "--broker", "mqtt://127.0.0.1:1"]
        )
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
