"""The organisation's optional certificate authority for MQTT over TLS (org/ca/).

It issues a client certificate per station whose Common Name is the station id, so a Mosquitto
listener with `require_certificate true` and `use_identity_as_username true` takes the station
id from the certificate as the username: the ACL's %u patterns then confine the station exactly
as with a password, and a certificate from any other CA is refused in the TLS handshake. It can
also issue the broker's server certificate, so stations verify the broker with the same ca.crt.

Keys are ECDSA P-256 (every TLS stack and Mosquitto build takes them). The CA certificate is
valid 10 years, station and broker certificates 2 years (re-issue with `issue_client_cert`).

    org/ca/ca.key              the CA's private key (0600)
    org/ca/ca.crt              the CA certificate: the broker's cafile, the stations' ca_file
    org/ca/stations/<id>.crt   the certificates issued to stations (their keys go in the bundle)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from presensi.device.files import write_atomically
from presensi.protocol.topics import STATION_ID
from presensi.provisioning.broker import TlsFiles
from presensi.provisioning.errors import ProvisioningError

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
STATION_CERTS = "stations"
CA_DAYS = 3653  # 10 years
CERT_DAYS = 730  # 2 years: station and broker certificates
BACKDATE = dt.timedelta(hours=1)  # tolerate a verifier whose clock is a little behind


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its new private key, both PEM."""

    certificate: x509.Certificate
    key_pem: bytes

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write the certificate (0644) and the key (0600), atomically."""
        write_atomically(cert_path, self.cert_pem.decode("ascii"), mode=0o644)
        write_atomically(key_path, self.key_pem.decode("ascii"), mode=0o600)


class CertificateAuthority:
    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.folder = folder
        self.key = key
        self.certificate = cert

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def cert_path(self) -> Path:
        return self.folder / CA_CERT

    @classmethod
    def create(
        cls, folder: Path, org_name: str, *, now: dt.datetime | None = None
    ) -> CertificateAuthority:
        """A new CA key and self-signed certificate in `folder` (made 0700)."""
        now = now or dt.datetime.now(dt.UTC)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name[:64]),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{org_name[:40]} Presensi CA"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        ca = cls(folder, key, cert)
        write_atomically(folder / CA_KEY, _key_pem(key).decode("ascii"), mode=0o600)
        write_atomically(folder / CA_CERT, ca.cert_pem.decode("ascii"), mode=0o644)
        return ca

    @classmethod
    def open(cls, folder: Path) -> CertificateAuthority:
        key_path, cert_path = folder / CA_KEY, folder / CA_CERT
        if not key_path.exists() or not cert_path.exists():
            raise ProvisioningError(
                f"{folder}: no CA (ca.key and ca.crt). Fix: create the organisation with "
                "`presensi provision init --with-ca`"
            )
        try:
            key = load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise ProvisioningError(f"{folder}: cannot read the CA ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or _spki(key.public_key()) != _spki(
            cert.public_key()
        ):
            raise ProvisioningError(f"{folder}: ca.key does not belong to ca.crt")
        return cls(folder, key, cert)

    def issue_client_cert(self, station_id: str, *, now: dt.datetime | None = None) -> IssuedCert:
        """A client certificate for a station: CN = the station id (its broker username under
        use_identity_as_username), clientAuth only, 2 years. A copy of the certificate is kept
        in ca/stations/<id>.crt; the key is only returned (it goes into the station's bundle)."""
        if not STATION_ID.fullmatch(station_id):
            raise ProvisioningError(f"not a valid station id: {station_id!r}")
        issued = self._issue(
            station_id, ExtendedKeyUsageOID.CLIENT_AUTH, (), now or dt.datetime.now(dt.UTC)
        )
        certs = self.folder / STATION_CERTS
        certs.mkdir(exist_ok=True, mode=0o700)
        write_atomically(certs / f"{station_id}.crt", issued.cert_pem.decode("ascii"), mode=0o644)
        return issued

    def issue_server_cert(
        self, hostnames: Sequence[str], *, now: dt.datetime | None = None
    ) -> IssuedCert:
        """The broker's server certificate for these DNS names or IP addresses (the first is
        also the CN), serverAuth only, 2 years."""
        if not hostnames:
            raise ProvisioningError("the broker certificate needs at least one host name")
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(
            hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, names, now or dt.datetime.now(dt.UTC)
        )

    def _issue(
        self,
        common_name: str,
        usage: x509.ObjectIdentifier,
        alt_names: Sequence[x509.GeneralName],
        now: dt.datetime,
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_ski = self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return IssuedCert(builder.sign(self.key, hashes.SHA256()), _key_pem(key))


def mosquitto_tls(
    cafile: str | os.PathLike[str],
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
) -> TlsFiles:
    """TLS settings for a listener that admits only clients holding a certificate of the org
    CA, with the certificate's CN as the username: pass it to presensi.provisioning.broker.
    mosquitto_conf(tls=...). The hub then needs a client certificate too (CN = its hub user:
    `issue_client_cert` takes any id of station-id characters)."""
    return TlsFiles(
        cafile=os.fspath(cafile),
        certfile=os.fspath(certfile),
        keyfile=os.fspath(keyfile),
        require_certificate=True,
        use_identity_as_username=True,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
