"""The org CA: certificate fields and chain (checked with cryptography), and a real Mosquitto TLS
listener configured with mosquitto_conf(tls=mosquitto_tls(...)): a station logs in with its
client certificate and no password (its CN becomes its username, so the ACL's %u rules apply),
while a certificate of another CA, or none, is refused in the handshake."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from presensi.demo.mosquitto import free_port
from presensi.protocol.topics import station_topic, subscription
from presensi.provisioning.broker import mosquitto_conf, write_acl_file, write_password_file
from presensi.provisioning.ca import CertificateAuthority, mosquitto_tls
from presensi.provisioning.errors import ProvisioningError
from presensi.provisioning.org import Org
from tests.brokers import Probe
from tests.conftest import MosquittoFactory

# MQTT 3.1.1 CONNECT, clean session, keepalive 60, client id "x", no username or password
CONNECT = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x"
CONNACK_OK = b"\x20\x02\x00\x00"


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org.init(tmp_path / "org", "Trans Semarang", with_ca=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_and_client_certificate_fields_and_chain(org: Org, tmp_path: Path) -> None:
    assert org.has_ca
    assert mode(org.ca_dir) == 0o700
    assert mode(org.ca_dir / "ca.key") == 0o600
    ca = org.ca()
    root = ca.certificate
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert dt.timedelta(days=3650) < lifetime < dt.timedelta(days=3660)

    issued = ca.issue_client_cert("st-pool-mangkang-01")
    cert = issued.certificate
    cert.verify_directly_issued_by(root)  # signed by the org CA
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "st-pool-mangkang-01"
    )
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=729) < lifetime < dt.timedelta(days=731)
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
    assert (org.ca_dir / "stations" / "st-pool-mangkang-01.crt").read_bytes() == issued.cert_pem

    issued.write(tmp_path / "c.crt", tmp_path / "c.key")
    assert mode(tmp_path / "c.key") == 0o600
    assert isinstance(
        x509.load_pem_x509_certificate((tmp_path / "c.crt").read_bytes()).public_key(),
        ec.EllipticCurvePublicKey,
    )

    # a CA of the same name is still another CA: its signature does not verify
    other = CertificateAuthority.create(tmp_path / "other", "Trans Semarang")
    forged = other.issue_client_cert("st-pool-mangkang-01").certificate
    assert forged.issuer == root.subject
    with pytest.raises(InvalidSignature):
        forged.verify_directly_issued_by(root)
    with pytest.raises(ProvisioningError, match="not a valid station id"):
        ca.issue_client_cert("St X/1")
    # reopened from disk, the same CA
    assert CertificateAuthority.open(org.ca_dir).cert_pem == ca.cert_pem


def test_mosquitto_tls_lines() -> None:
    conf = mosquitto_conf(tls=mosquitto_tls("/etc/m/ca.crt", "/etc/m/b.crt", "/etc/m/b.key"))
    for line in [
        "listener 8883",
        "cafile /etc/m/ca.crt",
        "certfile /etc/m/b.crt",
        "keyfile /etc/m/b.key",
        "require_certificate true",
        "use_identity_as_username true",
    ]:
        assert line in conf.splitlines()


def connack(port: int, cafile: Path, cert: Path | None, key: Path | None) -> bytes:
    """CONNECT over TLS without username or password; the broker's answer, or b"" if the
    connection was refused or closed."""
    context = ssl.create_default_context(cafile=str(cafile))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(CONNECT)
            return tls.recv(4)
    except (ssl.SSLError, ConnectionError):
        return b""


def test_a_station_logs_in_with_its_certificate_alone(
    org: Org, tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    ca = org.ca()
    files = tmp_path / "tls"
    files.mkdir()
    ca.issue_server_cert(["127.0.0.1", "localhost"]).write(files / "b.crt", files / "b.key")
    ca.issue_client_cert("st-a-01").write(files / "a.crt", files / "a.key")
    ca.issue_client_cert("hub").write(files / "hub.crt", files / "hub.key")
    impostor = CertificateAuthority.create(tmp_path / "other", "Trans Semarang")
    stranger = impostor.issue_client_cert("st-a-01")  # same names, another CA key
    stranger.write(files / "x.crt", files / "x.key")
    write_password_file(files / "passwd", {"hub": "unused-with-certificates"})
    write_acl_file(files / "acl", ["st-a-01"], ["hub"])
    port = free_port()
    conf = mosquitto_conf(
        password_file=files / "passwd",
        acl_file=files / "acl",
        persistence_location=tmp_path / "persist",
        port=port,
        bind_address="127.0.0.1",
        tls=mosquitto_tls(ca.cert_path, files / "b.crt", files / "b.key"),
    )
    broker = mosquitto_factory(port=port, base_config=conf)

    assert connack(port, ca.cert_path, files / "a.crt", files / "a.key") == CONNACK_OK
    assert connack(port, ca.cert_path, files / "x.crt", files / "x.key") == b""  # other CA
    assert connack(port, ca.cert_path, None, None) == b""  # no certificate
    assert "u'st-a-01'" in broker.log_text()  # the CN became the username

    def probe(name: str) -> Probe:
        p = Probe(port, f"{name}-probe")
        p.client.tls_set(
            ca_certs=str(ca.cert_path),
            certfile=str(files / f"{name}.crt"),
            keyfile=str(files / f"{name}.key"),
        )
        return p.connect_ok()

    with probe("hub") as hub, probe("a") as station:
        hub.subscribe(subscription("scans"))
        station.publish(station_topic("st-a-01", "scans"), b"mine")
        station.publish(station_topic("st-b-01", "scans"), b"not mine")  # denied by the ACL
        got = hub.expect()
        assert (got.topic, got.payload) == (station_topic("st-a-01", "scans"), b"mine")
        hub.expect_none(0.3)


def test_an_enrolled_station_connects_over_tls_with_its_bundle_certificate(
    org: Org, tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    import threading
    import time

    import msgspec

    from presensi.device import config as station_config
    from presensi.device.station import Parts, Station
    from presensi.hardware.indicator_memory import RecordingIndicator
    from presensi.provisioning.enroll import enroll_station
    from presensi.provisioning.locations import import_locations, sample_csv_text

    ca = org.ca()
    files = tmp_path / "tls"
    files.mkdir()
    ca.issue_server_cert(["127.0.0.1", "localhost"]).write(files / "b.crt", files / "b.key")
    import_locations(org, sample_csv_text())
    port = free_port()
    bundle = enroll_station(
        org, "st-tls-01", "pool-mangkang", broker_url=f"mqtts://127.0.0.1:{port}"
    )
    write_acl_file(files / "acl", ["st-tls-01"], ["hub"])
    conf = mosquitto_conf(
        password_file=org.broker_dir / "passwd",
        acl_file=files / "acl",
        persistence_location=tmp_path / "persist",
        port=port,
        bind_address="127.0.0.1",
        tls=mosquitto_tls(ca.cert_path, files / "b.crt", files / "b.key"),
    )
    broker = mosquitto_factory(port=port, base_config=conf)
    config = station_config.load(bundle / "station.toml")
    assert (config.uplink.cert_file, config.uplink.key_file) == ("client.crt", "client.key")
    config = msgspec.structs.replace(
        config,
        journal=msgspec.structs.replace(config.journal, path=str(tmp_path / "j.db"), min_free_mb=1),
    )
    station = Station(config, Parts(RecordingIndicator()), exit_when_source_ends=False)
    thread = threading.Thread(target=station.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        assert station.uplink is not None
        while not station.uplink.state.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert station.uplink.state.connected, broker.log_tail()
        assert "u'st-tls-01'" in broker.log_text()  # logged in as its certificate's CN
    finally:
        station.stop()
        thread.join(10)
