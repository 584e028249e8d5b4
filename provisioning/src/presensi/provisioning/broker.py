"""Broker credentials, ACL and configuration for a Presensi fleet on Mosquitto 2.x.

Every station connects with its own username, which is its station id, and its own password;
the hub connects with one or more hub users. The password file holds Mosquitto 2's PBKDF2 hashes
(mosquitto_passwd's default), so it can be written without the mosquitto tools installed.

The ACL uses `pattern` lines with %u for stations: the file has the same size for 5 stations or
5,000, adding a station only adds a line to the password file (then a broker reload), and a
station can never be granted another station's topics by an editing mistake, because its rights
are derived from the username it authenticated with. Mosquitto applies pattern lines to every
authenticated user, so hub users get the station rights under their own name too; that is why a
hub user may not share a name with a station (write_acl_file refuses it). Usernames are limited
to letters, digits, ".", "_", "@" and "-", so a %u substitution can never add a topic level or a
wildcard ("/", "+", "#").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from presensi.device.files import write_atomically
from presensi.protocol.topics import ROOT, STATION_ID, STATIONS, Kind
from presensi.protocol.wire import MAX_MESSAGE_BYTES
from presensi.provisioning.errors import ProvisioningError

PBKDF2_SHA512 = 7  # Mosquitto's hash type id: "$7$" = PBKDF2-HMAC-SHA512
DEFAULT_ITERATIONS = 101  # mosquitto_passwd's default (PW_DEFAULT_ITERATIONS)
SALT_BYTES = 12  # what mosquitto_passwd 2.0 writes and the only salt size 2.0 accepts
DIGEST_BYTES = 64

STATION_WRITES: tuple[Kind, ...] = ("scans", "status", "telemetry")
STATION_READS: tuple[Kind, ...] = ("ack", "config", "cmd", "event")
FLEET_ALL = f"{ROOT}/fleet/#"

# conservative usernames: no whitespace, ":" (password file), "+", "#" or "/" (ACL patterns)
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


class BrokerProvisioningError(ProvisioningError, ValueError):
    """A username, password or ACL input that would produce a broken or unsafe broker file."""


# -- passwords -------------------------------------------------------------------------------


def generate_password() -> str:
    """A random password (24 bytes, URL-safe Base64: 32 characters)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """Hash a password the way mosquitto_passwd 2.x does by default:
    `$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(utf-8 password, salt)>`.

    Base64 is the standard alphabet with padding; the salt is 12 random bytes and the digest
    64 bytes."""
    if not password:
        raise BrokerProvisioningError("empty password")
    if iterations < 1:
        raise BrokerProvisioningError(f"iterations must be at least 1, not {iterations}")
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    elif len(salt) != SALT_BYTES:
        raise BrokerProvisioningError(f"Mosquitto 2.0 needs a {SALT_BYTES}-byte salt")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"${PBKDF2_SHA512}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if `encoded` (a "$7$..." hash) is a hash of `password`."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != str(PBKDF2_SHA512) or not parts[2].isdigit():
        raise BrokerProvisioningError("not a Mosquitto PBKDF2-SHA512 ($7$) hash")
    try:
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except binascii.Error as exc:
        raise BrokerProvisioningError(f"bad Base64 in password hash: {exc}") from exc
    iterations = int(parts[2])
    if iterations < 1 or len(digest) != DIGEST_BYTES:
        raise BrokerProvisioningError("not a Mosquitto PBKDF2-SHA512 ($7$) hash")
    again = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(again, digest)


def password_file_text(users: Mapping[str, str], *, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The content of a Mosquitto password file: `username:hash` lines, sorted by username."""
    lines = []
    for username in sorted(users):
        _check_username(username)
        lines.append(f"{username}:{hash_password(users[username], iterations=iterations)}\n")
    return "".join(lines)


def write_password_file(
    path: str | os.PathLike[str],
    users: Mapping[str, str],
    *,
    mode: int = 0o640,
    group: str | int | None = None,
) -> None:
    """Write a password file atomically (temp file, fsync, rename) with `mode`.

    Mosquitto 2 reads the file after dropping root to its own user, so give that user access:
    `group="mosquitto"` (the default mode 0640 then lets it read, and no one else)."""
    write_atomically(Path(path), password_file_text(users), mode=mode, group=group)


# -- ACL -------------------------------------------------------------------------------------


def acl_text(stations: Iterable[str], hub_users: Iterable[str]) -> str:
    """The content of a Mosquitto ACL file for the fleet (see the module docstring)."""
    station_ids = sorted(set(stations))
    hubs = sorted(set(hub_users))
    for station in station_ids:
        if not STATION_ID.fullmatch(station):
            raise BrokerProvisioningError(f"not a valid station id: {station!r}")
    for user in hubs:
        _check_username(user)
    if clash := set(station_ids) & set(hubs):
        raise BrokerProvisioningError(
            f"hub users named like stations would get those stations' rights: {sorted(clash)}"
        )
    lines = [
        "# Presensi broker ACL, generated by presensi.provisioning.broker: do not edit by hand.",
        "# Nothing is granted to anonymous clients (no lines before the first 'user').",
        "#",
        "# Stations: username = station id. A station may publish only under its own id and",
        "# read only its own ack/config/cmd and the fleet topics. Pattern lines apply to every",
        "# authenticated user, so the file does not grow with the fleet.",
        *(f"pattern write {STATIONS}/%u/{kind}" for kind in STATION_WRITES),
        *(f"pattern read {STATIONS}/%u/{kind}" for kind in STATION_READS),
        "# (mosquitto warns at start that the next pattern has no %u: it is for every station)",
        f"pattern read {FLEET_ALL}",
    ]
    for user in hubs:
        lines += [
            "",
            "# hub: reads every station's messages, answers and configures every station",
            f"user {user}",
            *(f"topic read {STATIONS}/+/{kind}" for kind in STATION_WRITES),
            *(f"topic write {STATIONS}/+/{kind}" for kind in STATION_READS),
            f"topic write {FLEET_ALL}",
        ]
    return "\n".join(lines) + "\n"


def write_acl_file(
    path: str | os.PathLike[str],
    stations: Iterable[str],
    hub_users: Iterable[str],
    *,
    mode: int = 0o640,
    group: str | int | None = None,
) -> None:
    """Write the fleet ACL atomically. `stations` is checked (valid ids, no clash with a hub
    user) but not listed: the station rules are %u patterns."""
    write_atomically(Path(path), acl_text(stations, hub_users), mode=mode, group=group)


# -- mosquitto.conf --------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """Server certificate files for a TLS listener (paths on the broker host)."""

    cafile: str
    certfile: str
    keyfile: str
    require_certificate: bool = False  # True: every client must present a certificate
    use_identity_as_username: bool = False  # True: the certificate CN is the username


def mosquitto_conf(
    *,
    password_file: str | os.PathLike[str] = "/etc/mosquitto/presensi/passwd",  # noqa: S107 (a path)
    acl_file: str | os.PathLike[str] = "/etc/mosquitto/presensi/acl",
    persistence_location: str | os.PathLike[str] = "/var/lib/mosquitto/",
    port: int | None = None,
    bind_address: str | None = None,
    autosave_interval: int = 60,
    max_queued_messages: int = 100_000,
    max_queued_bytes: int = 256 * 1024 * 1024,
    max_inflight_messages: int = 20,
    persistent_client_expiration: str | None = "30d",
    tls: TlsFiles | None = None,
    include: bool = False,
) -> str:
    """The production broker's config (docs/operations.md explains it).

    The port defaults to 8883 with TLS and 1883 without; without `tls` the TLS lines are
    rendered commented out, as a reminder. `include`: the snippet for a stock Debian
    Mosquitto's conf.d/ instead, without what its mosquitto.conf sets already (persistence and
    its folder: Mosquitto refuses a setting given twice)."""
    if port is None:
        port = 8883 if tls else 1883
    location = os.fspath(persistence_location)
    if not location.endswith("/"):
        location += "/"
    expiration = (
        f"persistent_client_expiration {persistent_client_expiration}"
        if persistent_client_expiration
        else "#persistent_client_expiration 30d"
    )
    lines = [
        "# Presensi broker, generated by presensi.provisioning.broker (see docs/operations.md)",
        "per_listener_settings false",
        "",
        "# QoS 1 messages and persistent sessions survive a broker restart",
    ]
    if include:
        lines.append("# (persistence true and its folder come from the main mosquitto.conf)")
    else:
        lines += ["persistence true", f"persistence_location {location}"]
    lines += [
        f"autosave_interval {autosave_interval}",
        f"{expiration}",
        "",
        "# a subscriber that falls behind must not lose messages silently",
        f"max_queued_messages {max_queued_messages}",
        f"max_queued_bytes {max_queued_bytes}",
        f"max_inflight_messages {max_inflight_messages}",
        "",
        "# no message larger than the largest Presensi message (a signed revocation list);",
        "# the hub checks each kind's own, smaller limit again",
        f"message_size_limit {MAX_MESSAGE_BYTES}",
        "",
        "# every client authenticates; the ACL confines each station to its own topics",
        "allow_anonymous false",
        f"password_file {os.fspath(password_file)}",
        f"acl_file {os.fspath(acl_file)}",
        "",
        f"listener {port}{f' {bind_address}' if bind_address else ''}",
    ]
    lines += _tls_lines(tls)
    return "\n".join(lines) + "\n"


def _tls_lines(tls: TlsFiles | None) -> list[str]:
    if tls is None:
        return [
            "# TLS for this listener (use port 8883 when enabled):",
            "#cafile /etc/mosquitto/presensi/ca.crt",
            "#certfile /etc/mosquitto/presensi/broker.crt",
            "#keyfile /etc/mosquitto/presensi/broker.key",
            "#require_certificate false",
            "#use_identity_as_username false",
        ]
    return [
        f"cafile {tls.cafile}",
        f"certfile {tls.certfile}",
        f"keyfile {tls.keyfile}",
        f"require_certificate {_bool(tls.require_certificate)}",
        f"use_identity_as_username {_bool(tls.use_identity_as_username)}",
    ]


# -- helpers ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise BrokerProvisioningError(
            f"unsafe broker username {username!r}: use letters, digits, '.', '_', '@', '-'"
        )


def read_password_file(path: Path) -> dict[str, str]:
    """username -> hash of an existing password file; {} when there is none yet."""
    if not path.exists():
        return {}
    hashes: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not USERNAME.fullmatch(user) or not hashed.startswith("$"):
            raise BrokerProvisioningError(
                f"{path} line {number} is not 'username:$hash': fix or remove it, then run again"
            )
        if user in hashes:
            raise BrokerProvisioningError(f"{path} lists {user!r} twice: remove one line")
        hashes[user] = hashed
    return hashes
