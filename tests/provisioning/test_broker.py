"""Broker credentials and ACL, checked against a real mosquitto 2 started by tests/brokers.py."""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.demo.mosquitto import Mosquitto, free_port
from presensi.protocol.cli import main
from presensi.protocol.fleet import revocations_document
from presensi.protocol.keys import Revocations, SigningKey
from presensi.protocol.topics import FLEET_KEYS, Kind, station_topic, subscription
from presensi.provisioning.broker import (
    BrokerProvisioningError,
    TlsFiles,
    acl_text,
    generate_password,
    hash_password,
    mosquitto_conf,
    password_file_text,
    verify_password,
    write_acl_file,
    write_password_file,
)
from presensi.provisioning.errors import ProvisioningError
from tests.brokers import Probe
from tests.conftest import MosquittoFactory

# written by mosquitto_passwd 2.0.11: `mosquitto_passwd -b -c FILE alice secret`
MOSQUITTO_PASSWD_VECTOR = (
    "$7$101$5UHXbUrZgfs4vL2h$dMDpY2ELvldAXcEybRNlFP5BDL4hrpWzBeJk+7O/"
    "h/2qOgsigmE6LeGOdue2DJdaeOp8EuQ3KaLmeOVzLkTd+g=="
)
HASH_FORMAT = re.compile(r"\$7\$(\d+)\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)")
NOT_AUTHORIZED = 135  # paho's reason code for MQTT 3.1.1 CONNACK 5 ("not authorised")
QUIET = 1.0  # how long "nothing arrives" is watched for
STATION_OUT: tuple[Kind, ...] = ("scans", "status", "telemetry")
STATION_IN: tuple[Kind, ...] = ("ack", "config", "cmd", "event")


# -- password hashes -------------------------------------------------------------------------


def test_hash_format() -> None:
    encoded = hash_password("rahasia")
    m = HASH_FORMAT.fullmatch(encoded)
    assert m is not None, encoded
    assert m.group(1) == "101"
    assert len(base64.b64decode(m.group(2))) == 12
    assert len(base64.b64decode(m.group(3))) == 64
    assert hash_password("rahasia") != encoded  # a fresh salt every time
    assert hash_password("rahasia", iterations=5000).startswith("$7$5000$")


def test_hash_matches_a_mosquitto_passwd_vector() -> None:
    salt = base64.b64decode(MOSQUITTO_PASSWD_VECTOR.split("$")[3])
    assert hash_password("secret", salt=salt) == MOSQUITTO_PASSWD_VECTOR
    assert hash_password("Secret", salt=salt) != MOSQUITTO_PASSWD_VECTOR
    assert verify_password("secret", MOSQUITTO_PASSWD_VECTOR)
    assert not verify_password("secret ", MOSQUITTO_PASSWD_VECTOR)


def test_hash_matches_mosquitto_passwd_now(tmp_path: Path) -> None:
    # mosquitto_passwd ships in Debian's mosquitto package, which scripts/bootstrap installs
    assert shutil.which("mosquitto_passwd"), "no mosquitto_passwd: run scripts/bootstrap"
    password = "kata sändi ✓ " + generate_password()  # non-ASCII: hashed as UTF-8
    file = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(file), "st-a", password],
        check=True,
        capture_output=True,
    )
    user, encoded = file.read_text().strip().split(":", 1)
    assert user == "st-a"
    salt = base64.b64decode(encoded.split("$")[3])
    assert hash_password(password, salt=salt) == encoded
    assert verify_password(password, encoded)


@pytest.mark.parametrize(
    ("password", "kw"),
    [("", {}), ("x", {"salt": b"short"}), ("x", {"salt": bytes(16)}), ("x", {"iterations": 0})],
)
def test_hash_refuses(password: str, kw: dict[str, object]) -> None:
    with pytest.raises(BrokerProvisioningError):
        hash_password(password, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "encoded",
    [
        "$6$abc$def",
        "$7$x$5UHXbUrZgfs4vL2h$AAAA",
        "$7$101$5UHXbUrZgfs4vL2h$AAAA",  # a 3-byte digest
        "$7$101$!!!$" + "A" * 86 + "==",
        "plain",
    ],
)
def test_verify_refuses_what_is_not_a_pbkdf2_hash(encoded: str) -> None:
    with pytest.raises(BrokerProvisioningError):
        verify_password("x", encoded)


def test_generate_password() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", p) for p in passwords)


# -- files -----------------------------------------------------------------------------------


def test_write_password_file(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    users = {"st-b": "pb", "hub": "ph", "st-a": "pa"}
    write_password_file(path, users, group=os.getgid())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_gid == os.getgid()
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["hub", "st-a", "st-b"]
    for line in lines:
        user, encoded = line.split(":", 1)
        assert HASH_FORMAT.fullmatch(encoded)
        assert verify_password(users[user], encoded)
    write_password_file(path, {"st-a": "new"}, mode=0o600)  # replaces, never appends
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [line.split(":")[0] for line in path.read_text().splitlines()] == ["st-a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]  # no temp file left


@pytest.mark.parametrize("username", ["", "a:b", "a b", "st/a", "st+", "#", "a\nb", "é"])
def test_password_file_refuses_unsafe_usernames(tmp_path: Path, username: str) -> None:
    path = tmp_path / "passwd"
    write_password_file(path, {"st-a": "pa"})
    before = path.read_text()
    with pytest.raises(BrokerProvisioningError):
        write_password_file(path, {"st-a": "pa", username: "x"})
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_password_file_refuses_an_empty_password() -> None:
    with pytest.raises(BrokerProvisioningError):
        password_file_text({"st-a": ""})


EXPECTED_RULES = """\
pattern write presensi/v1/stations/%u/scans
pattern write presensi/v1/stations/%u/status
pattern write presensi/v1/stations/%u/telemetry
pattern read presensi/v1/stations/%u/ack
pattern read presensi/v1/stations/%u/config
pattern read presensi/v1/stations/%u/cmd
pattern read presensi/v1/stations/%u/event
pattern read presensi/v1/fleet/#
user hub
topic read presensi/v1/stations/+/scans
topic read presensi/v1/stations/+/status
topic read presensi/v1/stations/+/telemetry
topic write presensi/v1/stations/+/ack
topic write presensi/v1/stations/+/config
topic write presensi/v1/stations/+/cmd
topic write presensi/v1/stations/+/event
topic write presensi/v1/fleet/#
""".splitlines()


def rules(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_acl_rules(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    write_acl_file(path, ["st-b", "st-a"], ["hub"])
    text = path.read_text()
    assert rules(text) == EXPECTED_RULES
    assert "st-a" not in text and "st-b" not in text  # station rules are %u patterns
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_acl_does_not_grow_with_the_fleet() -> None:
    many = [f"st-{i:04d}" for i in range(1000)]
    assert acl_text(many, ["hub"]) == acl_text(["st-a"], ["hub"])
    two_hubs = rules(acl_text(many, ["hub-a", "hub-b"]))
    assert two_hubs.count("user hub-a") == 1 and two_hubs.count("user hub-b") == 1
    assert len(two_hubs) == 8 + 2 * 9


@pytest.mark.parametrize(
    ("stations", "hubs"),
    [(["St-A"], ["hub"]), (["st a"], ["hub"]), (["st-a"], ["hub x"]), (["hub"], ["hub"])],
)
def test_acl_refuses(stations: list[str], hubs: list[str]) -> None:
    with pytest.raises(BrokerProvisioningError):
        acl_text(stations, hubs)


def test_mosquitto_conf_lines() -> None:
    conf = mosquitto_conf(persistence_location="/var/lib/presensi-broker")
    lines = conf.splitlines()
    for line in [
        "persistence true",
        "persistence_location /var/lib/presensi-broker/",
        "autosave_interval 60",
        "max_queued_messages 100000",
        f"max_queued_bytes {256 * 1024 * 1024}",
        "max_inflight_messages 20",
        "allow_anonymous false",
        "password_file /etc/mosquitto/presensi/passwd",
        "acl_file /etc/mosquitto/presensi/acl",
        "listener 1883",
        "#certfile /etc/mosquitto/presensi/broker.crt",
    ]:
        assert line in lines, line
    assert not any(line.startswith(("certfile", "cafile", "keyfile")) for line in lines)

    tls = mosquitto_conf(
        tls=TlsFiles("/ca.crt", "/b.crt", "/b.key", require_certificate=True),
        bind_address="10.0.0.2",
    ).splitlines()
    assert "listener 8883 10.0.0.2" in tls
    assert tls[tls.index("listener 8883 10.0.0.2") + 1 :] == [
        "cafile /ca.crt",
        "certfile /b.crt",
        "keyfile /b.key",
        "require_certificate true",
        "use_identity_as_username false",
    ]


# -- a real broker ---------------------------------------------------------------------------


@dataclass
class Fleet:
    broker: Mosquitto
    passwords: dict[str, str]
    probes: list[Probe] = field(default_factory=list)

    def connect(self, user: str | None, client_id: str | None = None) -> Probe:
        """A connected probe as `user` with its right password; closed at teardown."""
        password = self.passwords.get(user, "") if user else None
        probe = Probe(
            self.broker.port, client_id or user or "anon", username=user, password=password
        )
        self.probes.append(probe)
        return probe.connect_ok()


@pytest.fixture
def fleet(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> Iterator[Fleet]:
    """A real mosquitto with the fleet's password file and ACL: stations st-a and st-b, hub."""
    passwords = {user: generate_password() for user in ("st-a", "st-b", "hub")}
    write_password_file(tmp_path / "passwd", passwords)
    write_acl_file(tmp_path / "acl", ["st-a", "st-b"], ["hub"])
    broker = mosquitto_factory(
        allow_anonymous=False,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        # not 0 ("unlimited"): mosquitto 2.0.11 would then disconnect a client after any publish
        # the ACL denies, and the tests below check that a denial is silent
        max_queued_messages=100_000,
        log_types=("all",),
    )
    fleet = Fleet(broker, passwords)
    yield fleet
    for probe in fleet.probes:
        probe.close()


def scans(station: str) -> str:
    return station_topic(station, "scans")


def test_station_publishes_its_scans_and_status_to_the_hub(fleet: Fleet) -> None:
    hub = fleet.connect("hub")
    for kind in STATION_OUT:
        assert not hub.subscribe(subscription(kind))[0].is_failure
    a = fleet.connect("st-a")
    for kind in STATION_OUT:
        a.publish(station_topic("st-a", kind), kind.encode())
        got = hub.expect()
        assert (got.topic, got.payload) == (station_topic("st-a", kind), kind.encode())


def test_hub_answers_and_configures_a_station(fleet: Fleet) -> None:
    a = fleet.connect("st-a")
    for kind in STATION_IN:
        a.subscribe(station_topic("st-a", kind))
    a.subscribe("presensi/v1/fleet/#")
    hub = fleet.connect("hub")
    sent = [station_topic("st-a", kind) for kind in STATION_IN] + [FLEET_KEYS]
    for topic in sent:
        hub.publish(topic, b"from hub")
    assert [a.expect().topic for _ in sent] == sent


def test_station_cannot_publish_for_another_station(fleet: Fleet) -> None:
    hub = fleet.connect("hub")
    hub.subscribe(subscription("scans"))
    a = fleet.connect("st-a")
    a.publish(scans("st-a"), b"legit")
    assert hub.expect().payload == b"legit"  # the path works

    a.publish(scans("st-b"), b"forged")  # PUBACKed all the same: MQTT 3.1.1 has no refusal
    a.publish(scans("st-a"), b"after")  # processed after the forged one, in order
    got = hub.expect()
    assert (got.topic, got.payload) == (scans("st-a"), b"after")
    hub.expect_none(QUIET)
    assert "Denied PUBLISH from st-a" in fleet.broker.log_text()
    assert a.client.is_connected()  # denied silently, not disconnected


def test_cross_station_publish_is_delivered_without_the_acl(mosquitto: Mosquitto) -> None:
    """The control for the test above: the same forged publish does arrive on a broker without
    the ACL, so the check there can fail."""
    with (
        Probe(mosquitto.port, "hub").connect_ok() as hub,
        Probe(mosquitto.port, "st-a").connect_ok() as a,
    ):
        hub.subscribe(subscription("scans"))
        a.publish(scans("st-b"), b"forged")
        assert hub.expect().payload == b"forged"


def test_station_may_publish_nowhere_else(fleet: Fleet) -> None:
    hub = fleet.connect("hub")
    for kind in STATION_OUT:
        hub.subscribe(subscription(kind))
    a = fleet.connect("st-a")
    for kind in STATION_IN:
        a.subscribe(station_topic("st-a", kind))
    a.subscribe("presensi/v1/fleet/#")
    forbidden = [
        station_topic("st-b", "scans"),
        station_topic("st-b", "status"),
        station_topic("st-b", "telemetry"),
        station_topic("st-a", "ack"),  # a station must not ack (or configure) itself
        station_topic("st-a", "config"),
        station_topic("st-a", "cmd"),
        FLEET_KEYS,
        "presensi/v1/fleet/revocations",
        "presensi/v1/elsewhere",
    ]
    for topic in forbidden:
        a.publish(topic, b"forged")
    a.publish(scans("st-a"), b"marker")
    assert hub.expect().payload == b"marker"
    hub.expect_none(QUIET)
    a.expect_none(0.1)  # its own ack/config/cmd/fleet subscriptions saw nothing either
    assert fleet.broker.log_text().count("Denied PUBLISH from st-a") == len(forbidden)


def test_station_receives_only_its_own_ack(fleet: Fleet) -> None:
    a = fleet.connect("st-a")
    b = fleet.connect("st-b")
    granted = a.subscribe(station_topic("st-b", "ack"))
    # mosquitto 2.0.11 grants the subscription (SUBACK QoS 1) and filters every delivery
    assert [rc.value for rc in granted] == [1]
    a.subscribe("presensi/v1/stations/+/ack")
    a.subscribe(station_topic("st-a", "ack"))
    b.subscribe(station_topic("st-b", "ack"))
    hub = fleet.connect("hub")
    hub.publish(station_topic("st-b", "ack"), b'{"upto": 7}')
    hub.publish(station_topic("st-a", "ack"), b'{"upto": 3}')
    assert b.expect().payload == b'{"upto": 7}'  # the ack for B was really published
    got = a.expect()
    assert (got.topic, got.payload) == (station_topic("st-a", "ack"), b'{"upto": 3}')
    a.expect_none(QUIET)


def test_shared_subscription_is_no_way_around_the_acl(fleet: Fleet) -> None:
    """mosquitto 2 checks `$share/GROUP/TOPIC` against TOPIC."""
    spy = fleet.connect("st-a")
    spy.subscribe(f"$share/spy/{subscription('scans')}")
    hub = fleet.connect("hub")
    hub.subscribe(subscription("scans"))
    b = fleet.connect("st-b")
    b.publish(scans("st-b"), b"b's record")
    assert hub.expect().payload == b"b's record"
    spy.expect_none(QUIET)


def test_hub_workers_share_the_scans(fleet: Fleet) -> None:
    workers = [fleet.connect("hub", f"hub-{i}") for i in range(2)]
    for w in workers:
        assert [rc.value for rc in w.subscribe(subscription("scans", "hub"))] == [1]
    a, b = fleet.connect("st-a"), fleet.connect("st-b")
    sent = set()
    for i in range(10):
        for station, probe in (("st-a", a), ("st-b", b)):
            probe.publish(scans(station), f"{station} {i}".encode())
            sent.add(f"{station} {i}")
    received: dict[int, list[str]] = {0: [], 1: []}
    deadline = time.monotonic() + 5
    while sum(map(len, received.values())) < len(sent) and time.monotonic() < deadline:
        for i, w in enumerate(workers):
            with contextlib.suppress(queue.Empty):
                received[i].append(w.messages.get(timeout=0.01).payload.decode())
    everything = received[0] + received[1]
    assert sorted(everything) == sorted(sent)  # every record exactly once ...
    assert received[0] and received[1]  # ... split between the workers
    for w in workers:
        w.expect_none(0.2)


@pytest.mark.parametrize("who", ["wrong password", "anonymous", "unknown user", "hub's password"])
def test_refused(fleet: Fleet, who: str) -> None:
    user, password = {
        "wrong password": ("st-a", "not-the-password"),
        "anonymous": (None, None),
        "unknown user": ("st-z", "whatever"),
        "hub's password": ("st-a", fleet.passwords["hub"]),
    }[who]
    probe = Probe(fleet.broker.port, "intruder", username=user, password=password)
    rc = probe.connect()
    probe.close()
    assert rc.is_failure and rc.value == NOT_AUTHORIZED, rc
    assert fleet.connect("st-a", "st-a-real").client.is_connected()  # the right one still works


def test_admin_commands_say_a_refused_login_is_not_authorized(fleet: Fleet, tmp_path: Path) -> None:
    doc = tmp_path / "revocations.signed.json"
    doc.write_bytes(revocations_document(Revocations(1, frozenset()), SigningKey.generate()))
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    right = tmp_path / "hub.password"
    right.write_text(fleet.passwords["hub"] + "\n")
    base = ["hub", "publish-fleet", "--revocations", str(doc), "--broker", fleet.broker.url]
    runner = CliRunner()
    refused = runner.invoke(main, [*base, "--username", "hub", "--password-file", str(wrong)])
    assert refused.exit_code == 2, refused.output
    assert "refused the login" in refused.output
    assert "not authori" in refused.output.lower()
    assert "did not take the message" not in refused.output
    ok = runner.invoke(main, [*base, "--username", "hub", "--password-file", str(right)])
    assert ok.exit_code == 0, ok.output


def test_broker_accepts_hashes_of_every_kind(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    users = {"ascii": "secret", "unicode": "kata sändi ✓", "one": "x", "many": generate_password()}
    iterations = {"ascii": 101, "unicode": 101, "one": 1, "many": 20_000}
    (tmp_path / "passwd").write_text(
        "".join(f"{u}:{hash_password(p, iterations=iterations[u])}\n" for u, p in users.items())
    )
    broker = mosquitto_factory(allow_anonymous=False, password_file=tmp_path / "passwd")
    for user, password in users.items():
        for attempt, expect_ok in ((password, True), (password + "!", False)):
            probe = Probe(broker.port, user, username=user, password=attempt)
            rc = probe.connect()
            probe.close()
            assert rc.is_failure is not expect_ok, (user, attempt, rc)


def test_generated_mosquitto_conf_runs(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> None:
    passwords = {"st-a": generate_password(), "hub": generate_password()}
    write_password_file(tmp_path / "passwd", passwords)
    write_acl_file(tmp_path / "acl", ["st-a"], ["hub"])
    (tmp_path / "data").mkdir()
    port = free_port()
    conf = mosquitto_conf(
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        persistence_location=tmp_path / "data",
        port=port,
        bind_address="127.0.0.1",
    )
    broker = mosquitto_factory(port=port, base_config=conf)
    with Probe(port, "hub", username="hub", password=passwords["hub"]).connect_ok() as hub:
        hub.subscribe(subscription("scans"))
        with Probe(
            port, "st-a", username="st-a", password=passwords["st-a"], clean_session=False
        ).connect_ok() as a:
            a.publish(scans("st-a"), b"record")
            assert hub.expect().payload == b"record"
    anon = Probe(port, "anon")
    assert anon.connect().value == NOT_AUTHORIZED
    anon.close()
    broker.stop()
    assert (tmp_path / "data" / "mosquitto.db").is_file()  # persistence written on shutdown


def test_puback_is_not_delivery_when_the_broker_crashes(mosquitto: Mosquitto) -> None:
    """Persistence keeps a QoS 1 message queued for an offline session across a clean restart;
    a crash (SIGKILL) loses what the broker PUBACKed since its last autosave. So a station may
    only drop records the hub has acked (docs/operations.md)."""
    topic = station_topic("st-a", "ack")
    away = Probe(mosquitto.port, "st-a", clean_session=False).connect_ok()
    away.subscribe(topic)
    away.close()
    with Probe(mosquitto.port, "hub").connect_ok() as hub:
        hub.publish(topic, b"saved")  # PUBACKed ...
    mosquitto.restart()  # ... and saved by the clean shutdown
    with Probe(mosquitto.port, "hub").connect_ok() as hub:
        hub.publish(topic, b"lost")  # PUBACKed too ...
    mosquitto.kill()  # ... but not saved before the crash
    mosquitto.start()
    back = Probe(mosquitto.port, "st-a", clean_session=False).connect_ok()
    try:
        assert back.session_present
        assert back.expect().payload == b"saved"
        back.expect_none(0.5)
    finally:
        back.close()


def test_retiring_a_station_shuts_it_out(fleet: Fleet, tmp_path: Path) -> None:
    """Delete its password line and reload: its live connection is closed, others stay."""
    a = fleet.connect("st-a")
    b = fleet.connect("st-b")
    remaining = {u: p for u, p in fleet.passwords.items() if u != "st-b"}
    write_password_file(tmp_path / "passwd", remaining)
    fleet.broker.reload()
    deadline = time.monotonic() + 5
    while b.client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not b.client.is_connected()
    assert a.client.is_connected()
    again = Probe(
        fleet.broker.port, "st-b-again", username="st-b", password=fleet.passwords["st-b"]
    )
    assert again.connect().value == NOT_AUTHORIZED
    again.close()


def test_broker_errors_belong_to_the_provisioning_error_tree() -> None:
    with pytest.raises(ProvisioningError):
        hash_password("x", salt=b"short")
