"""The demo's embedded amqtt broker, driven by real paho-mqtt clients (MQTT 3.1.1)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from presensi.demo.broker import EmbeddedBroker, EmbeddedBrokerError
from tests.brokers import Probe

Connect = Callable[..., Probe]


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def connect(broker: EmbeddedBroker) -> Iterator[Connect]:
    """Connected probes, closed at teardown (before the broker stops)."""
    probes: list[Probe] = []

    def make(client_id: str, **kw: object) -> Probe:
        probes.append(probe := Probe(broker.port, client_id, **kw))  # type: ignore[arg-type]
        return probe.connect_ok()

    yield make
    for probe in probes:
        probe.close()


def test_qos1_round_trip(connect: Connect) -> None:
    sub = connect("hub")
    assert [rc.value for rc in sub.subscribe("presensi/v1/stations/+/scans", qos=1)] == [1]
    pub = connect("st-a")
    for i in range(20):
        pub.publish("presensi/v1/stations/st-a/scans", f"batch {i}".encode(), qos=1)
    got = [sub.expect() for _ in range(20)]
    assert [m.payload.decode() for m in got] == [f"batch {i}" for i in range(20)]
    assert {(m.topic, m.qos) for m in got} == {("presensi/v1/stations/st-a/scans", 1)}


def test_retained_message_reaches_a_later_subscriber(connect: Connect) -> None:
    hub = connect("hub")
    hub.publish("presensi/v1/fleet/keys", b"not retained", qos=1)
    hub.publish("presensi/v1/fleet/revocations", b"rev v3", qos=1, retain=True)
    station = connect("st-a")
    station.subscribe("presensi/v1/fleet/#", qos=1)
    got = station.expect()
    assert (got.topic, got.payload, got.retain) == (
        "presensi/v1/fleet/revocations",
        b"rev v3",
        True,
    )
    station.expect_none(0.3)


def test_last_will_when_the_connection_drops(connect: Connect) -> None:
    hub = connect("hub")
    hub.subscribe("presensi/v1/stations/+/status", qos=1)
    will = ("presensi/v1/stations/st-a/status", b'{"online": false}', 1, True)
    polite = connect("st-b", will=("presensi/v1/stations/st-b/status", b"gone", 1, True))
    polite.close()  # a clean DISCONNECT discards the will
    crashed = connect("st-a", will=will)
    crashed.drop()  # TCP closed without DISCONNECT: the broker must publish the will
    got = hub.expect()
    assert (got.topic, got.payload) == ("presensi/v1/stations/st-a/status", b'{"online": false}')
    hub.expect_none(0.3)
    later = connect("dashboard")  # the will was retained
    later.subscribe("presensi/v1/stations/+/status")
    assert later.expect().payload == b'{"online": false}'


def test_persistent_session_gets_what_was_published_while_away(
    broker: EmbeddedBroker, connect: Connect
) -> None:
    """amqtt delivers these with the RETAIN flag set (it queues them like retained messages):
    MQTT clients of the demo must not give that flag a meaning on these topics."""
    station = connect("st-a", clean_session=False)
    station.subscribe("presensi/v1/stations/st-a/ack", qos=1)
    forgetful = connect("st-b", clean_session=True)
    forgetful.subscribe("presensi/v1/stations/st-b/ack", qos=1)
    station.close()
    forgetful.close()
    hub = connect("hub")
    for n in (3, 5, 8):
        hub.publish("presensi/v1/stations/st-a/ack", f'{{"upto": {n}}}'.encode(), qos=1)
        hub.publish("presensi/v1/stations/st-b/ack", f'{{"upto": {n}}}'.encode(), qos=1)

    back = connect("st-a", clean_session=False)
    assert back.session_present is True
    got = [back.expect() for _ in range(3)]
    assert [m.payload for m in got] == [b'{"upto": 3}', b'{"upto": 5}', b'{"upto": 8}']
    assert {m.qos for m in got} == {1}
    back.expect_none(0.3)

    clean = connect("st-b", clean_session=True)  # the control: a clean session gets nothing
    assert clean.session_present is False
    clean.subscribe("presensi/v1/stations/st-b/ack", qos=1)
    clean.expect_none(0.3)


def test_no_sys_topics(connect: Connect) -> None:
    """amqtt's $SYS plugin (off here) would answer at once with a retained broker version."""
    probe = connect("curious")
    probe.subscribe("$SYS/#")
    probe.expect_none(0.3)


def amqtt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("amqtt-broker-")]


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_start_and_stop() -> None:
    b = EmbeddedBroker()
    with pytest.raises(EmbeddedBrokerError):
        _ = b.port  # no port before start
    with b:
        port = b.port
        assert b.url == f"mqtt://127.0.0.1:{port}" and port > 0
        started = b.running
        assert started and len(amqtt_threads()) == 1
        with pytest.raises(EmbeddedBrokerError):
            b.start()
        probe = Probe(port, "c").connect_ok()
        probe.close()
    assert not b.running and amqtt_threads() == []
    assert refused(port)
    b.stop()  # again: nothing to do


def test_stop_with_clients_connected() -> None:
    b = EmbeddedBroker().start()
    probes = [Probe(b.port, f"c{i}").connect_ok() for i in range(3)]
    b.stop()
    assert amqtt_threads() == []
    for p in probes:
        p.close()


@pytest.mark.thread_errors("amqtt logs the failed bind that the test expects")
def test_a_taken_port_is_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedBrokerError, match=str(port)):
            EmbeddedBroker(port=port).start()
    assert amqtt_threads() == []


def test_many_stations_connecting_at_once_with_retained_documents(
    broker: EmbeddedBroker, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """A fleet starting together (the demo's stations): each connects and subscribes while
    the others connect and get the retained fleet documents. amqtt 0.12.1 walks its dict of
    subscriptions across an await on every connect, so a subscription made meanwhile broke
    that client's connection ("dictionary changed size during iteration")."""
    hub = connect("hub")
    for n in range(20):
        hub.publish(f"presensi/v1/fleet/doc-{n}", b"x" * 2000, qos=1, retain=True)
    errors: list[BaseException] = []

    def station(n: int) -> None:
        try:
            probe = Probe(broker.port, f"st-{n:02d}").connect_ok()
            try:
                probe.subscribe(f"presensi/v1/stations/st-{n:02d}/config", qos=1)
                probe.subscribe("presensi/v1/fleet/#", qos=1)
                got = {probe.expect().topic for _ in range(20)}
                assert len(got) == 20
            finally:
                probe.close()
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=station, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    broken = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [] and broken == [], (errors, broken)
