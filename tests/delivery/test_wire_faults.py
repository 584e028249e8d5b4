"""The hub against a misbehaving wire: repeated, reordered, replayed, forged and malformed
messages. A real Mosquitto and a real hub (`Fleet.start_hub`); the station is a raw paho 2.x
client (tests/brokers.Probe) that signs batches with the station's real key from its testbed
folder, so every fault is exactly the bytes the test chose."""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from presensi.demo.mosquitto import Mosquitto
from presensi.device.testbed import T0_MS as T0
from presensi.device.testbed import sample_chain as chain
from presensi.hub.service import Hub
from presensi.hub.store import REJECT_PAYLOAD_MAX, RejectRow, Store
from presensi.protocol import topics, wire
from presensi.protocol.keys import SigningKey, load_signing_key
from presensi.protocol.record import ScanRecord
from tests.brokers import Probe
from tests.delivery.fleet import Fleet

ACK_WAIT_S = 10.0


# -- records and batches -------------------------------------------------------------------------


def make_chain(station: str, n: int) -> list[ScanRecord]:
    """Records 1..n of a station, each holding the hash of the one before."""
    return list(chain(station, n))


def signed(records: list[ScanRecord], key: SigningKey, *, station: str = "") -> bytes:
    journal = records[0].journal
    return wire.sign_batch(wire.batch_of(station or records[0].station, journal, records), key)


def sign_body(body: bytes, key: SigningKey) -> bytes:
    """A valid signature line over any body at all."""
    return base64.b64encode(key.sign(wire.BATCH_DOMAIN + body)) + b"\n" + body


# -- the test bench --------------------------------------------------------------------------


@dataclass
class RawStation:
    """A station as the broker sees it: a paho client that publishes bytes and collects acks."""

    id: str
    key: SigningKey
    probe: Probe
    records: list[ScanRecord]

    def publish(self, payload: bytes, kind: topics.Kind = "scans") -> None:
        self.probe.publish(topics.station_topic(self.id, kind), payload)

    def batch(self, first: int, last: int) -> bytes:
        return signed(self.records[first - 1 : last], self.key)

    def acks(self, until: int, timeout: float = ACK_WAIT_S) -> list[int]:
        """Every ack received until one says `until` (AssertionError if none does in time)."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while until not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.id}: no ack upto={until} in {timeout} s, got {seen}")
            got = self.probe.expect(left)
            assert got.topic == topics.station_topic(self.id, "ack"), got.topic
            seen.append(wire.decode(got.payload, wire.Ack).upto)
        return seen


@dataclass
class Bench:
    fleet: Fleet
    hub: Hub
    a: RawStation
    b: RawStation
    barrier: RawStation  # a third station, whose records mark how far the hub has got
    published: int = 0  # messages the test sent on topics the hub subscribes to
    barriers: int = 0

    def send(self, station: RawStation, payload: bytes, kind: topics.Kind = "scans") -> None:
        station.publish(payload, kind)
        self.published += 1

    def send_raw(self, probe: Probe, topic: str, payload: bytes) -> None:
        probe.publish(topic, payload)
        self.published += 1

    def settle(self) -> None:
        """Return once the hub has handled every message sent so far.

        The barrier station's next record goes last; its ack comes after the commit of the group
        that held it, and the hub's one worker handles messages in the order they arrived."""
        self.barriers += 1
        self.send(self.barrier, self.barrier.batch(self.barriers, self.barriers))
        self.barrier.acks(until=self.barriers)

    def store(self) -> Store:
        return self.fleet.store()

    def scans_stored(self) -> int:
        """Every scan the hub holds, but the barrier station's."""
        store = self.store()
        try:
            return store.count_scans() - store.count_scans(self.barrier.id)
        finally:
            store.close()

    def inserted(self) -> int:
        """Records the hub inserted, but the barrier station's."""
        return self.hub.ingest.stats.records_inserted - self.barriers

    def rejects(self) -> list[RejectRow]:
        store = self.store()
        try:
            return store.rejects(1000)
        finally:
            store.close()

    def check_stored(self, station: RawStation, n: int) -> None:
        """The hub holds exactly the station's records 1..n, once each, committed up to n."""
        store = self.store()
        try:
            assert store.scans(station.id) == station.records[:n]
            assert store.count_scans(station.id) == n
            assert store.committed_upto(station.id) == n
        finally:
            store.close()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The hub's store engine; a test parametrizes it (indirect) to run on PostgreSQL too."""
    chosen: str = getattr(request, "param", "sqlite")
    return chosen


@pytest.fixture
def bench(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Mosquitto, engine: str
) -> Iterator[Bench]:
    store_url = request.getfixturevalue("postgres_url") if engine == "postgres" else None
    fleet = Fleet(tmp_path, mosquitto.url, store_url=store_url)
    probes: list[Probe] = []
    try:
        stations = fleet.add_stations(3)
        hub = fleet.start_hub()
        raw = []
        for s in stations:
            probe = Probe(mosquitto.port, s.id)
            probes.append(probe)
            probe.connect_ok()
            probe.subscribe(topics.station_topic(s.id, "ack"))
            key = load_signing_key(s.folder.folder / "station.key")
            raw.append(RawStation(s.id, key, probe, make_chain(s.id, 300)))
        yield Bench(fleet, hub, raw[0], raw[1], raw[2])
    finally:
        for probe in probes:
            probe.close()
        fleet.close()


@pytest.fixture(autouse=True)
def no_ingest_failure(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A bad message is a reject, never a failed ingest (which drops its whole group)."""
    caplog.set_level(logging.WARNING, logger="presensi.hub")
    yield
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, failures


# -- at-least-once on the wire, exactly once in the hub ------------------------------------------


def test_a_batch_published_three_times_is_stored_once(bench: Bench) -> None:
    payload = bench.a.batch(1, 100)
    for _ in range(3):
        bench.send(bench.a, payload)
    acks = bench.a.acks(until=100)
    bench.settle()
    assert set(acks) == {100}  # never an ack for less, never for more
    bench.check_stored(bench.a, 100)
    assert (bench.inserted(), bench.hub.ingest.stats.duplicates) == (100, 200)
    assert bench.rejects() == []


def test_reordered_batches_commit_once_the_prefix_is_whole(bench: Bench) -> None:
    bench.send(bench.a, bench.a.batch(101, 200))
    bench.settle()
    bench.a.probe.expect_none(0.2)  # stored, but 1..100 are missing: nothing to ack yet
    store = bench.store()
    try:
        assert (store.count_scans(bench.a.id), store.committed_upto(bench.a.id)) == (100, 0)
    finally:
        store.close()
    bench.send(bench.a, bench.a.batch(1, 100))
    # 1..200 are committed, but an ack never goes past what the station sent with it
    assert bench.a.acks(until=100) == [100]
    bench.check_stored(bench.a, 200)
    bench.send(bench.a, bench.a.batch(101, 200))  # the station resends what was not acked
    assert bench.a.acks(until=200) == [200]
    assert bench.rejects() == []


def test_old_batches_replayed_after_the_ack_change_nothing(bench: Bench) -> None:
    for first in (1, 101, 201):
        bench.send(bench.a, bench.a.batch(first, first + 99))
    bench.a.acks(until=300)
    bench.settle()
    inserted = bench.inserted()
    # a station restored from a backup, or a broker replaying a stale session
    for first, last in ((1, 100), (51, 150), (1, 300), (201, 300)):
        bench.send(bench.a, bench.a.batch(first, last))
    acks = bench.a.acks(until=300)
    bench.settle()
    # each ack as far as the replays of its ingest group went, never further
    assert set(acks) <= {100, 150, 300}
    bench.check_stored(bench.a, 300)
    assert bench.inserted() == inserted == 300
    assert bench.rejects() == []


# -- forged and mismatched ---------------------------------------------------------------------


def test_a_batch_signed_with_another_stations_key_is_rejected(bench: Bench) -> None:
    forged = signed(bench.a.records[:50], bench.b.key)  # B's key, A's records, A's topic
    bench.send(bench.a, forged)
    bench.settle()
    (reject,) = bench.rejects()
    assert reject.station == bench.a.id
    assert reject.topic == topics.station_topic(bench.a.id, "scans")
    assert "signature" in reject.reason
    assert reject.payload == forged[:REJECT_PAYLOAD_MAX]  # kept for a human to look at
    assert reject.payload_len == len(forged)
    assert bench.scans_stored() == 0
    store = bench.store()
    try:
        assert store.committed_upto(bench.a.id) == 0
    finally:
        store.close()
    bench.a.probe.expect_none(0.2)  # no ack for a forgery
    # ingest keeps working, for the victim too
    bench.send(bench.a, bench.a.batch(1, 50))
    assert bench.a.acks(until=50) == [50]
    bench.check_stored(bench.a, 50)


@pytest.mark.parametrize("where", ["batch", "records", "both"])
def test_a_payload_naming_another_station_than_its_topic_is_rejected(
    bench: Bench, where: str
) -> None:
    # signed with A's own key, published on A's topic, but claiming B's identity somewhere
    records = bench.b.records[:20] if where in ("records", "both") else bench.a.records[:20]
    claimed = bench.b.id if where in ("batch", "both") else bench.a.id
    payload = signed(records, bench.a.key, station=claimed)
    bench.send(bench.a, payload)
    bench.settle()
    (reject,) = bench.rejects()
    assert (reject.station, reject.topic) == (bench.a.id, topics.station_topic(bench.a.id, "scans"))
    assert "differs from the topic" in reject.reason
    assert bench.scans_stored() == 0
    store = bench.store()
    try:
        assert store.committed_upto(bench.a.id) == store.committed_upto(bench.b.id) == 0
    finally:
        store.close()
    bench.a.probe.expect_none(0.2)
    bench.b.probe.expect_none(0.0)


def test_a_batch_of_an_unknown_station_is_rejected(bench: Bench) -> None:
    stranger = SigningKey.generate()
    payload = signed(make_chain("st-999", 10), stranger)
    with Probe(bench.a.probe.port, "st-999").connect_ok() as probe:
        probe.subscribe(topics.station_topic("st-999", "ack"))
        bench.send_raw(probe, topics.station_topic("st-999", "scans"), payload)
        bench.settle()
        probe.expect_none(0.2)
    (reject,) = bench.rejects()
    assert reject.station == "st-999"
    assert "unknown station" in reject.reason
    assert bench.scans_stored() == 0
    bench.send(bench.a, bench.a.batch(1, 10))
    assert bench.a.acks(until=10) == [10]


# -- malformed -------------------------------------------------------------------------------


def huge(record: ScanRecord) -> ScanRecord:
    """The record moved to seqs and times past what a signed 64-bit integer holds."""
    return msgspec.structs.replace(record, seq=2**63 + record.seq, wall_ms=2**64 - 1)


def malformed_payloads(key: SigningKey) -> dict[str, tuple[bytes, str]]:
    """name -> (payload, a part of the reason the hub must give)."""
    rng = random.Random(7)
    return {
        "random bytes": (rng.randbytes(500).replace(b"\n", b"\x00"), "no signature line"),
        "empty": (b"", "no signature line"),
        "300 KB": (b"A" * 100 + b"\n" + b"x" * (300 * 1024), "too large"),
        "JSON without a signature line": (
            json.dumps({"v": 1, "station": "st-001", "floor": 0, "records": []}).encode(),
            "no signature line",
        ),
        "a signature line that is not Base64": (b"!!not base64!!\n{}", "signature"),
        "a valid signature over garbage": (sign_body(b'{"v": 1, "stat', key), "bad batch"),
        "a valid signature over a wrong schema": (
            sign_body(b'{"v":1,"station":"st-001","floor":0,"records":[{"seq":"one"}]}', key),
            "bad batch",
        ),
        "a valid signature over numbers no 64-bit column holds": (
            signed([huge(r) for r in make_chain("st-001", 2)], key),
            "bad batch",
        ),
        "a valid signature over a field named with a NUL": (
            sign_body(b'{"floor":0,"records":[],"station":"st-001","v":1,"\\u0000":0}', key),
            "bad batch",
        ),
        "a valid signature over a future version": (
            sign_body(
                b'{"journal":"' + b"0" * 32 + b'","records":[],"station":"st-001","v":3}', key
            ),
            "unsupported batch version",
        ),
        "a version 1 batch that declares records lost": (
            sign_body(b'{"floor":12,"records":[],"station":"st-001","v":1}', key),
            "no longer declares records lost",
        ),
        "records of another journal than the batch's": (
            wire.sign_batch(wire.batch_of("st-001", "2" * 32, make_chain("st-001", 2)), key),
            "another journal",
        ),
    }


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_malformed_payloads_are_rejected_and_ingest_goes_on(bench: Bench) -> None:
    cases = malformed_payloads(bench.a.key)
    for payload, _ in cases.values():
        bench.send(bench.a, payload)
    bench.send(bench.a, bench.a.batch(1, 40))  # in the same stream, right behind them
    assert bench.a.acks(until=40) == [40]
    bench.settle()
    rejects = sorted(bench.rejects(), key=lambda r: r.id)
    assert len(rejects) == len(cases), [r.reason for r in rejects]
    for (name, (payload, reason)), row in zip(cases.items(), rejects, strict=True):
        assert reason in row.reason, (name, row.reason)
        assert row.station == bench.a.id, name
        assert row.payload_len == len(payload), name
        assert row.payload == payload[:REJECT_PAYLOAD_MAX], name
    bench.check_stored(bench.a, 40)
    assert bench.hub.ingest.stats.rejected == len(cases)


# -- a storm of hostile traffic --------------------------------------------------------------


def hostile_values(rng: random.Random) -> object:
    return rng.choice(
        [
            2**64 - 1,
            -(2**63),
            2**63,
            -1,
            0,
            1e308,
            -0.0,
            "\x00",
            "é" * 300,
            "",
            None,
            True,
            [],
            {},
            "online",
            "offline",
            [1, [2, [3]]],
        ]
    )


def hostile_json(rng: random.Random, kind: str, station: str) -> bytes:
    """JSON shaped like a real message of `kind`, with hostile values in some fields."""
    if kind == "status":
        doc: dict[str, object] = {"state": "online", "boot_id": "b", "version": "1", "ts_ms": T0}
    elif kind == "telemetry":
        doc = {
            "ts_ms": T0,
            "last_seq": 5,
            "acked_upto": 5,
            "backlog": 0,
            "clock_synced": True,
            "version": "1",
            "last_scan_ms": T0,
        }
    else:
        doc = {"v": 1, "station": station, "floor": 0, "records": []}
    for name in rng.sample(sorted(doc), rng.randint(1, len(doc))):
        doc[name] = hostile_values(rng)
    if rng.random() < 0.3:
        doc["unexpected"] = hostile_values(rng)
    return json.dumps(doc).encode()


EXTREME_INTS = [2**64 - 1, 2**63, 2**63 - 1, -(2**63), -(2**53), -1, 0]


def extreme_but_well_formed(rng: random.Random, kind: str) -> bytes:
    """A status or telemetry message of the right shape whose values are at or past the edges
    of what a 64-bit column holds, or hold a NUL (which PostgreSQL text cannot)."""
    text = rng.choice(["1.0\x00", "\x00", "v" * 5000, "versi-ñ"])
    if kind == "status":
        doc: dict[str, object] = {
            "state": rng.choice(["online", "offline", "\x00"]),
            "boot_id": text,
            "version": text,
            "ts_ms": rng.choice(EXTREME_INTS),
        }
    else:
        doc = {
            name: rng.choice(EXTREME_INTS)
            for name in ("ts_ms", "last_seq", "acked_upto", "backlog", "last_scan_ms")
        }
        doc["version"] = text
        doc["clock_synced"] = rng.random() < 0.5
    return json.dumps(doc).encode()


def hostile_payload(rng: random.Random, kind: str, station: str, good: bytes) -> bytes:
    choice = rng.randrange(9)
    if choice == 0:
        return rng.randbytes(rng.randrange(0, 3000))
    if choice == 1:
        return hostile_json(rng, kind, station)
    if choice == 2:  # a real signed batch with one bit flipped
        flipped = bytearray(good)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if choice == 3:  # a real signed batch cut short
        return good[: rng.randrange(len(good))]
    if choice == 4:  # deep nesting
        depth = rng.choice([100, 1000, 5000])
        return b"[" * depth + b"]" * depth
    if choice == 5:
        return b"\xff\xfe" + "salah".encode("utf-16-le")
    if choice == 6:  # a signature line over hostile JSON
        return b"A" * 88 + b"\n" + hostile_json(rng, "scans", station)
    if choice == 7:
        return extreme_but_well_formed(rng, rng.choice(["status", "telemetry"]))
    return rng.choice([b"null", b"0", b'"online"', b"[]", b"{}", b"true", b"NaN", b"1e999"])


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_a_storm_of_hostile_messages_leaves_ingest_working(bench: Bench) -> None:
    rng = random.Random(20240601)
    good = bench.a.batch(1, 5)
    other = Probe(bench.a.probe.port, "intruder").connect_ok()
    stations = [bench.a.id, bench.b.id, "st-999", "UPPER", "x" * 70, "stasiun-ñ"]
    kinds: list[topics.Kind] = ["scans", "status", "telemetry"]
    try:
        for i in range(200):
            station, kind = rng.choice(stations), rng.choice(kinds)
            topic = f"{topics.STATIONS}/{station}/{kind}"
            bench.send_raw(other, topic, hostile_payload(rng, kind, station, good))
            if i in (60, 130):  # legitimate batches in the middle of the storm
                first = 1 if i == 60 else 21
                bench.send(bench.a, bench.a.batch(first, first + 19))
        bench.send(bench.a, bench.a.batch(41, 60))
        bench.a.acks(until=60)
        bench.settle()
    finally:
        other.close()
    assert bench.hub.ingest._worker.is_alive()
    bench.check_stored(bench.a, 60)
    assert bench.scans_stored() == 60  # nothing of the storm became a scan
    rejects = bench.rejects()
    stats = bench.hub.ingest.stats
    assert stats.messages == bench.published
    assert stats.rejected > 150  # most of the storm is refused
    # each station keeps at most 20 reject rows a minute; the rest are counted
    assert len(rejects) == stats.rejected - stats.rejects_dropped
    assert all(n <= 20 for n in Counter(r.station for r in rejects).values())
    assert all(r.reason for r in rejects)
