"""`presensi provision broker` through the real command line (CliRunner), and the files it writes
used by a real Mosquitto: stations and the hub connect with the generated credentials, the
ACL confines each station, and a re-run adds stations without changing anyone's password."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.demo.mosquitto import Mosquitto, free_port
from presensi.protocol.cli import main
from presensi.protocol.topics import station_topic, subscription
from presensi.provisioning.broker import verify_password
from tests.brokers import Probe
from tests.conftest import MosquittoFactory

NOT_AUTHORIZED = 135  # paho's reason code for MQTT 3.1.1 CONNACK 5 ("not authorised")


def provision(out: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["provision", "broker", "--out", str(out), *args], catch_exceptions=False
    )


def provisioned(out: Path, *args: str) -> Result:
    result = provision(out, *args)
    assert result.exit_code == 0, result.output
    return result


def password_of(out: Path, user: str) -> str:
    return (out / "credentials" / f"{user}.password").read_text().strip()


def password_lines(out: Path) -> dict[str, str]:
    lines = (out / "passwd").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "broker"


@pytest.fixture
def probes() -> Iterator[list[Probe]]:
    made: list[Probe] = []
    yield made
    for probe in made:
        probe.close()


def start_broker(factory: MosquittoFactory, out: Path) -> Mosquitto:
    return factory(
        allow_anonymous=False,
        password_file=out / "passwd",
        acl_file=out / "acl",
        # not 0 ("unlimited"): mosquitto 2.0.11 would then disconnect a client after any publish
        # its ACL denies (tests/brokers.py)
        max_queued_messages=100_000,
        log_types=("all",),
    )


def connect(probes: list[Probe], broker: Mosquitto, user: str, password: str) -> Probe:
    probe = Probe(broker.port, user, username=user, password=password)
    probes.append(probe)
    return probe.connect_ok()


def refused(broker: Mosquitto, user: str, password: str) -> bool:
    probe = Probe(broker.port, f"{user}-refused", username=user, password=password)
    try:
        return probe.connect().value == NOT_AUTHORIZED
    finally:
        probe.close()


# -- the files -------------------------------------------------------------------------------


def test_writes_every_file_and_says_so(out: Path) -> None:
    result = provisioned(out, "--station", "st-a", "--station", "st-b", "--hub-user", "hub")
    users = ("hub", "st-a", "st-b")
    for user in users:
        credential = out / "credentials" / f"{user}.password"
        assert mode(credential) == 0o600
        assert len(password_of(out, user)) >= 32
        assert f"wrote {credential}" in result.output
    assert mode(out / "credentials") == 0o700
    hashes = password_lines(out)
    assert sorted(hashes) == list(users)
    for user in users:
        assert verify_password(password_of(out, user), hashes[user])
    assert len({password_of(out, user) for user in users}) == 3
    assert mode(out / "passwd") == 0o640
    assert "user hub" in (out / "acl").read_text()
    conf = (out / "mosquitto.conf").read_text().splitlines()
    # by default the files are named where broker-install puts them on the broker host
    assert "password_file /etc/mosquitto/presensi/passwd" in conf
    assert "acl_file /etc/mosquitto/presensi/acl" in conf
    assert "allow_anonymous false" in conf
    snippet = (out / "presensi.conf").read_text().splitlines()
    assert "password_file /etc/mosquitto/presensi/passwd" in snippet
    assert not [line for line in snippet if line.startswith("persistence")]  # the main conf's
    for name in ("passwd", "acl", "mosquitto.conf", "presensi.conf"):
        assert f"wrote {out / name}" in result.output
    assert f"presensi provision broker-install --from {out}" in result.output
    assert "systemctl reload mosquitto" in result.output


def test_stations_file_and_install_dir(out: Path, tmp_path: Path) -> None:
    listing = tmp_path / "stations.txt"
    listing.write_text("# pool Mangkang\nst-cawang-01\n\nst-cawang-02  # by the gate\nst-a\n")
    provisioned(
        out,
        "--stations-file",
        str(listing),
        "--station",
        "st-a",
        "--hub-user",
        "hub-1",
        "--hub-user",
        "hub-2",
        "--install-dir",
        "/etc/mosquitto/presensi",
    )
    assert sorted(password_lines(out)) == ["hub-1", "hub-2", "st-a", "st-cawang-01", "st-cawang-02"]
    conf = (out / "mosquitto.conf").read_text().splitlines()
    assert "password_file /etc/mosquitto/presensi/passwd" in conf
    assert "acl_file /etc/mosquitto/presensi/acl" in conf
    acl = (out / "acl").read_text()
    assert "user hub-1" in acl and "user hub-2" in acl


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--station", "ST A", "--hub-user", "hub"], "not a valid station id"),
        (["--station", "st-a", "--hub-user", "st-a"], "hub users named like stations"),
        (["--station", "st-a", "--hub-user", "hub:x"], "unsafe broker username"),
        (["--station", "st-a"], "Missing option '--hub-user'"),
    ],
)
def test_refuses_bad_input_and_writes_nothing(out: Path, args: list[str], message: str) -> None:
    result = provision(out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_the_first_day_needs_only_the_hub_user(out: Path) -> None:
    """Before any station exists: the hub's user alone; stations come with enrollment."""
    result = provisioned(out, "--hub-user", "hub")
    assert sorted(password_lines(out)) == ["hub"]
    assert "user hub" in (out / "acl").read_text()
    assert "%u" in (out / "acl").read_text()  # the station rules cover every station to come
    assert f"wrote {out / 'presensi.conf'}" in result.output


def test_refuses_a_password_file_it_cannot_read_and_leaves_it(out: Path) -> None:
    out.mkdir()
    (out / "passwd").write_text("st-a:$7$101$abc$def\nthis line is no entry\n")
    result = provision(out, "--station", "st-a", "--station", "st-b", "--hub-user", "hub")
    assert result.exit_code == 2, result.output
    assert "line 2 is not 'username:$hash'" in result.output
    assert (out / "passwd").read_text() == "st-a:$7$101$abc$def\nthis line is no entry\n"
    assert not (out / "credentials").exists()


# -- a real broker ---------------------------------------------------------------------------


def test_stations_and_hub_connect_with_what_was_generated(
    out: Path, mosquitto_factory: MosquittoFactory, probes: list[Probe]
) -> None:
    provisioned(out, "--station", "st-a", "--station", "st-b", "--hub-user", "hub")
    broker = start_broker(mosquitto_factory, out)
    hub = connect(probes, broker, "hub", password_of(out, "hub"))
    assert not hub.subscribe(subscription("scans"))[0].is_failure
    a = connect(probes, broker, "st-a", password_of(out, "st-a"))
    a.publish(station_topic("st-a", "scans"), b"a's batch")
    got = hub.expect()
    assert (got.topic, got.payload) == (station_topic("st-a", "scans"), b"a's batch")
    a.publish(station_topic("st-b", "scans"), b"forged")  # denied by the generated ACL
    a.publish(station_topic("st-a", "scans"), b"after")
    assert hub.expect().payload == b"after"
    hub.expect_none(0.3)
    assert refused(broker, "st-a", password_of(out, "st-b"))  # b's password is not a's
    assert refused(broker, "st-z", password_of(out, "st-a"))  # nor is anyone unlisted let in


def test_rerun_adds_a_station_and_keeps_every_password(
    out: Path, tmp_path: Path, mosquitto_factory: MosquittoFactory, probes: list[Probe]
) -> None:
    provisioned(out, "--station", "st-a", "--station", "st-b", "--hub-user", "hub")
    before = password_lines(out)
    credentials = {user: password_of(out, user) for user in before}
    broker = start_broker(mosquitto_factory, out)
    a = connect(probes, broker, "st-a", credentials["st-a"])  # a deployed station, online

    listing = tmp_path / "stations.txt"
    listing.write_text("st-a\nst-b\nst-c\n")
    result = provisioned(out, "--stations-file", str(listing), "--hub-user", "hub")
    after = password_lines(out)
    assert {user: after[user] for user in before} == before  # the very same hash lines
    assert sorted(after) == ["hub", "st-a", "st-b", "st-c"]
    assert {user: password_of(out, user) for user in before} == credentials
    assert "credentials/st-c.password" in result.output
    assert "credentials/st-a.password" not in result.output  # not rewritten

    broker.reload()
    assert a.client.is_connected()  # its password still holds after the reload
    hub = connect(probes, broker, "hub", credentials["hub"])
    hub.subscribe(subscription("scans"))
    c = connect(probes, broker, "st-c", password_of(out, "st-c"))
    for probe, station in ((c, "st-c"), (a, "st-a")):
        probe.publish(station_topic(station, "scans"), station.encode())
        assert hub.expect().payload == station.encode()
    connect(probes, broker, "st-b", credentials["st-b"])


def test_a_lost_password_file_is_rebuilt_from_the_credentials(
    out: Path, mosquitto_factory: MosquittoFactory, probes: list[Probe]
) -> None:
    provisioned(out, "--station", "st-a", "--hub-user", "hub")
    password = password_of(out, "st-a")
    (out / "passwd").unlink()
    result = provisioned(out, "--station", "st-a", "--hub-user", "hub")
    assert "2 restored from credentials/" in result.output
    assert password_of(out, "st-a") == password
    broker = start_broker(mosquitto_factory, out)
    connect(probes, broker, "st-a", password)


def test_the_generated_mosquitto_conf_runs(
    out: Path, tmp_path: Path, mosquitto_factory: MosquittoFactory, probes: list[Probe]
) -> None:
    port = free_port()
    (tmp_path / "data").mkdir()
    provisioned(
        out,
        "--station",
        "st-a",
        "--hub-user",
        "hub",
        "--port",
        str(port),
        "--bind-address",
        "127.0.0.1",
        "--persistence-location",
        str(tmp_path / "data"),
        "--install-dir",
        str(out.resolve()),
    )
    broker = mosquitto_factory(port=port, base_config=(out / "mosquitto.conf").read_text())
    hub = connect(probes, broker, "hub", password_of(out, "hub"))
    hub.subscribe(subscription("scans"))
    a = connect(probes, broker, "st-a", password_of(out, "st-a"))
    a.publish(station_topic("st-a", "scans"), b"record")
    assert hub.expect().payload == b"record"
    assert refused(broker, "st-a", "guess")


def test_broker_install_puts_the_files_where_a_stock_mosquitto_reads_them(
    out: Path, tmp_path: Path
) -> None:
    import grp

    etc = tmp_path / "etc-mosquitto"
    etc.mkdir()
    (etc / "mosquitto.conf").write_text(
        "persistence true\ninclude_dir " + str(etc / "conf.d") + "\n"
    )
    # files generated for the default /etc/mosquitto/presensi are not installed elsewhere: the
    # broker would read other files than those copied
    provisioned(out, "--hub-user", "hub")
    elsewhere = CliRunner().invoke(
        main,
        ["provision", "broker-install", "--from", str(out), "--etc", str(etc), "--no-reload"],
    )
    assert elsewhere.exit_code == 2
    assert "names password_file '/etc/mosquitto/presensi/passwd'" in elsewhere.output
    assert f"--install-dir {etc / 'presensi'}" in elsewhere.output
    assert not (etc / "presensi").exists()
    provisioned(out, "--hub-user", "hub", "--install-dir", str(etc / "presensi"))
    result = CliRunner().invoke(
        main,
        ["provision", "broker-install", "--from", str(out), "--etc", str(etc), "--no-reload"],
    )
    assert result.exit_code == 0, result.output
    mosquitto_gid = grp.getgrnam("mosquitto").gr_gid
    for name in ("presensi/passwd", "presensi/acl"):
        path = etc / name
        assert (mode(path), path.stat().st_gid) == (0o640, mosquitto_gid)
        assert path.read_bytes() == (out / name.split("/")[1]).read_bytes()
    assert (etc / "conf.d" / "presensi.conf").read_bytes() == (out / "presensi.conf").read_bytes()
    assert mode(etc / "presensi") == 0o750
    # a main config that does not include conf.d/ is named, with the line to add
    (etc / "mosquitto.conf").write_text("persistence true\n")
    again = CliRunner().invoke(
        main,
        ["provision", "broker-install", "--from", str(out), "--etc", str(etc), "--no-reload"],
    )
    assert again.exit_code == 2 and f"include_dir {etc / 'conf.d'}" in again.output
