"""Station enrollment: a new station identity and the bundle that brings it up.

`enroll_station(org, None, "pool-mangkang", broker_url="mqtts://hub.example:8883")`:

1. picks an id ("st-pool-mangkang-01", the first number free) unless one is given;
2. generates the station's Ed25519 key and a broker password, and adds the station user to the
   broker's password file (org/broker/, as `presensi provision broker` does: every other user
   keeps their password; the new password also goes to credentials/<id>.password);
3. registers the station's public key and location at the hub store, when its URL is given;
4. writes the bundle org/stations/<id>/ (see BUNDLE_README), with a manifest.json of every
   file's SHA-256 for the serial flasher, and checks its station.toml with the station's own
   config loader.

The bundle is built in a temporary folder and renamed into place last, so org/stations/ never
holds half a bundle. If a later step fails after the broker files were written, the broker keeps
the user and its password (credentials/<id>.password): enrolling again with the same --id reuses
them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from presensi.device import config as station_config
from presensi.device.errors import ConfigError
from presensi.device.files import write_atomically
from presensi.hub.errors import StoreError
from presensi.protocol.keys import KeyRing, SigningKey, load_signing_key, raw_public
from presensi.protocol.topics import STATION_ID
from presensi.provisioning.broker import (
    BrokerProvisioningError,
    acl_text,
    generate_password,
    hash_password,
    mosquitto_conf,
    read_password_file,
    verify_password,
)
from presensi.provisioning.cli import (
    ACL_FILE,
    CONF_FILE,
    CREDENTIALS_DIR,
    INSTALL_DIR,
    PASSWORD_FILE,
    SNIPPET_FILE,
)
from presensi.provisioning.errors import ProvisioningError
from presensi.provisioning.locations import Location, find_location
from presensi.provisioning.org import (
    FOLDER,
    PRIVATE,
    PUBLIC,
    Org,
    json_text,
    make_folder,
    private_key_pem,
)

# the files of a bundle
STATION_TOML = "station.toml"
STATION_KEY = "station.key"
ORG_KEYS = "org-keys.json"
REVOCATIONS = "revocations.json"
BROKER_PASSWORD = "broker.password"  # noqa: S105 (a file name)
CA_CERT = "ca.crt"  # with an org CA: verifies the broker's certificate
CLIENT_CERT = "client.crt"  # with an org CA: the station's TLS client certificate (CN = id)
CLIENT_KEY = "client.key"
README = "README.txt"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "presensi-bundle/1"

JOURNAL_PATH = "/var/lib/presensi/journal.db"
BROKER_URL = re.compile(r"mqtts?://[^/\s]+")
_HUB_USER = re.compile(r"^user\s+(\S+)\s*$")

BUNDLE_README = """\
Presensi station bundle: {station} at {location} ({location_name})
Organisation: {org}. Made {created} by `presensi provision station`.

What is here
  station.toml      the station's config (relative paths are relative to this folder)
  station.key       the station's private Ed25519 key: signs its scan batches (keep 0600)
  org-keys.json     the organisation's public badge keys (updated over MQTT later)
  revocations.json  revoked badge serials (updated over MQTT later)
  broker.password   the station's MQTT password; its username is the station id (keep 0600)
{tls_lines}  manifest.json     SHA-256 of every file above (checked by the installer and the
                    serial flasher)

Where it goes on the Raspberry Pi
  Copy this whole folder to the SD card's boot partition as /boot/firmware/presensi/
  (on older images /boot/presensi/). At boot, presensi-firstboot.service
  (`presensi station install-bundle`) checks every file against manifest.json and installs
  the folder as /etc/presensi/ (owner root, group presensi, folder 0750, station.key and
  broker.password 0640: the FAT boot partition cannot keep file modes), then deletes the
  copy on the boot partition and leaves presensi-installed.txt there. A damaged or edited
  file refuses the whole bundle (the journal says which), and the copy stays on the card.
  The service then runs
      presensi station run --config /etc/presensi/station.toml
  To install by hand instead: copy the files to /etc/presensi/, set those modes, and check
      presensi station check-config --config /etc/presensi/station.toml

This folder holds secrets: hand it only to whoever installs this station, and delete other
copies once the station is running.
"""

_TLS_README = """\
  ca.crt            the organisation CA: verifies the broker's certificate (mqtts://)
  client.crt        the station's TLS client certificate (CN = station id), for a broker
                    listener with require_certificate (docs/operations.md)
  client.key        its private key (keep 0600)
"""


@dataclass(frozen=True)
class _BrokerPlan:
    folder: Path
    hashes: dict[str, str]  # the password file after enrollment
    password: str
    new_credential: bool  # credentials/<id>.password must be written
    hub_users: list[str]
    write_acl: bool
    write_conf: bool


def enroll_station(
    org: Org,
    station_id: str | None,
    location_id: str,
    *,
    broker_url: str,
    hub_store_url: str | None = None,
    broker_dir: Path | None = None,
    hardware: Hardware | None = None,
) -> Path:
    """Enroll a new station at `location_id`; return its bundle folder org/stations/<id>/.
    Raises ProvisioningError (nothing of the bundle written) on any user error."""
    hardware = Hardware() if hardware is None else hardware
    hardware.check()
    location = find_location(org, location_id)
    if not BROKER_URL.fullmatch(broker_url):
        raise ProvisioningError(
            f"broker address {broker_url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]. "
            "Fix: e.g. --broker mqtts://hub.example.co.id:8883"
        )
    broker_dir = org.broker_dir if broker_dir is None else broker_dir
    try:
        users = read_password_file(broker_dir / PASSWORD_FILE)
    except (BrokerProvisioningError, OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError(str(exc)) from exc
    if station_id is not None:
        _check_new(org, station_id)  # before the hub store is opened (and maybe created)
    hub_ids = _hub_station_ids(hub_store_url)
    if station_id is None:
        station_id = _next_id(org, location, {*users, *hub_ids})
    if station_id in hub_ids:
        raise ProvisioningError(
            f"the hub already has a station {station_id} with its own key. Fix: choose another "
            "--id (a replaced station gets a new id)"
        )
    plan = _broker_plan(broker_dir, station_id, users)

    make_folder(org.stations_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{station_id}.", dir=org.stations_dir))
    try:
        key = SigningKey.generate()
        _write_bundle(org, staging, station_id, location, broker_url, key, plan.password, hardware)
        _write_broker(plan, station_id)
        if hub_store_url is not None:
            _register(hub_store_url, station_id, key, location.id)
        final = org.stations_dir / station_id
        staging.rename(final)
        _fsync_dir(org.stations_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


# -- checks ----------------------------------------------------------------------------------


def _next_id(org: Org, location: Location, taken: set[str]) -> str:
    stem = f"st-{location.id[:58].rstrip('.-_')}"
    for n in range(1, 100):
        candidate = f"{stem}-{n:02d}"
        if candidate not in taken and not (org.stations_dir / candidate).exists():
            return candidate
    raise ProvisioningError(f"no free station id of the form {stem}-NN. Fix: pass --id")


def _check_new(org: Org, station_id: str) -> None:
    if not STATION_ID.fullmatch(station_id):
        raise ProvisioningError(
            f"station id {station_id!r} is not valid. Fix: use lowercase letters, digits, '.', "
            "'_' and '-' (at most 64, starting with a letter or digit), e.g. 'st-pool-mangkang-01'"
        )
    if (org.stations_dir / station_id).exists():
        raise ProvisioningError(
            f"station {station_id} is already enrolled ({org.stations_dir / station_id}). "
            "Fix: choose another --id (or leave it out to get the next free one)"
        )


def _hub_station_ids(url: str | None) -> set[str]:
    if url is None:
        return set()
    from presensi.hub.store import open_store

    try:
        store = open_store(url)
        try:
            store.migrate()
            return set(store.station_keys())
        finally:
            store.close()
    except StoreError as exc:
        raise ProvisioningError(f"hub store {url}: {exc}") from exc


def _register(url: str, station_id: str, key: SigningKey, location: str) -> None:
    from presensi.hub.store import StationInfo, open_store

    try:
        store = open_store(url)
        try:
            store.register_station(StationInfo(station_id, raw_public(key.public), location))
        finally:
            store.close()
    except StoreError as exc:
        raise ProvisioningError(
            f"hub store {url}: {exc}. The broker already has user {station_id}; enroll again "
            f"with --id {station_id} to finish"
        ) from exc


# -- the broker files ------------------------------------------------------------------------


def _broker_plan(folder: Path, station_id: str, users: dict[str, str]) -> _BrokerPlan:
    acl = folder / ACL_FILE
    hub_users = _acl_hub_users(acl)
    try:
        acl_text([station_id], hub_users)  # a station named like a hub user gets hub rights
    except BrokerProvisioningError as exc:
        raise ProvisioningError(f"{exc}. Fix: choose another --id") from exc
    credential = folder / CREDENTIALS_DIR / f"{station_id}.password"
    kept = credential.read_text().strip() if credential.is_file() else ""
    hashes = dict(users)
    if station_id in users:
        if not kept or not verify_password(kept, users[station_id]):
            raise ProvisioningError(
                f"{folder / PASSWORD_FILE} already has a user {station_id} whose password is "
                f"not in {credential}. Fix: choose another --id, or remove that user's line"
            )
        password, new_credential = kept, False  # a station enrolled before, or half-way
    elif kept:
        password, new_credential = kept, False
        hashes[station_id] = hash_password(password)
    else:
        password, new_credential = generate_password(), True
        hashes[station_id] = hash_password(password)
    return _BrokerPlan(
        folder,
        hashes,
        password,
        new_credential,
        hub_users,
        write_acl=not acl.exists(),
        write_conf=not (folder / CONF_FILE).exists(),
    )


def _acl_hub_users(acl: Path) -> list[str]:
    if not acl.exists():
        return []
    return [
        match.group(1)
        for line in acl.read_text(encoding="utf-8").splitlines()
        if (match := _HUB_USER.match(line))
    ]


def _write_broker(plan: _BrokerPlan, station_id: str) -> None:
    """Credential first, then the password file (a password in the file is never one nobody
    has a copy of), keeping the file's mode and group; then the ACL and mosquitto.conf if
    missing (the ACL's %u patterns already cover a new station)."""
    folder = plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    if plan.new_credential:
        credentials = folder / CREDENTIALS_DIR
        credentials.mkdir(mode=FOLDER, exist_ok=True)
        write_atomically(credentials / f"{station_id}.password", plan.password + "\n", mode=PRIVATE)
    passwd = folder / PASSWORD_FILE
    mode, group = 0o640, None
    if passwd.exists():
        info = passwd.stat()
        mode = info.st_mode & 0o777
        group = info.st_gid if info.st_gid != os.getegid() else None
    text = "".join(f"{user}:{plan.hashes[user]}\n" for user in sorted(plan.hashes))
    write_atomically(passwd, text, mode=mode, group=group)
    if plan.write_acl:
        write_atomically(folder / ACL_FILE, acl_text([station_id], plan.hub_users), mode=0o640)
    if plan.write_conf:
        where = Path(INSTALL_DIR)  # where broker-install puts passwd and acl
        for name, include in ((CONF_FILE, False), (SNIPPET_FILE, True)):
            conf = mosquitto_conf(
                password_file=where / PASSWORD_FILE, acl_file=where / ACL_FILE, include=include
            )
            write_atomically(folder / name, conf, mode=0o644)


# -- the bundle ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hardware:
    """What a station is built of, as the admin says at enrollment (or later, with
    `presensi provision station-hardware`): the bundle's config follows it, and the installer's
    self-test checks exactly that."""

    camera: str = "picamera2"  # picamera2 | opencv | folder | none (a serial scanner only)
    # opencv: a device index ("0") or a path (/dev/video0); folder: the watched folder
    camera_source: str = ""
    scanner_port: str = ""  # a serial QR module: /dev/serial0, /dev/ttyACM0 ...
    scanner_baud: int = 9600
    indicator: str = "gpio"  # gpio | console | none
    mode: str = "auto"  # auto | in | out

    def check(self) -> None:
        if self.camera not in ("picamera2", "opencv", "folder", "none"):
            raise ProvisioningError(
                f"camera {self.camera!r}: use picamera2, opencv, folder or none"
            )
        if self.camera == "folder" and not self.camera_source.startswith("/"):
            raise ProvisioningError(
                "a folder camera watches a folder on the station: give its absolute path with "
                "--camera-source (e.g. /var/lib/presensi/frames)"
            )
        if self.camera == "none" and not self.scanner_port:
            raise ProvisioningError(
                "a station without a camera needs a serial scanner: give --scanner-port"
            )
        if self.indicator not in ("gpio", "console", "none"):
            raise ProvisioningError(f"indicator {self.indicator!r}: use gpio, console or none")
        if self.mode not in ("auto", "in", "out"):
            raise ProvisioningError(
                f"mode {self.mode!r}: use auto, in or out (event mode comes from the hub's "
                "settings, for the event)"
            )
        if not 1200 <= self.scanner_baud <= 921_600:
            raise ProvisioningError(f"baud rate {self.scanner_baud}: use 1200..921600")


def station_toml(
    station_id: str,
    location: Location,
    broker_url: str,
    *,
    ca_file: str = "",
    client_cert: bool = False,
    hardware: Hardware | None = None,
) -> str:
    """The station's config for the bundle (deploy/station.example.toml documents each field)."""
    hw = Hardware() if hardware is None else hardware

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    # a folder camera on a station is fed by another program: it watches for new images
    watch = "\nwatch = true" if hw.camera == "folder" else ""
    return f"""\
# Presensi station {station_id}, made by `presensi provision station`.
# Relative paths are relative to this file's folder (deploy/station.example.toml explains all).

[station]
id = {q(station_id)}
location = {q(location.id)}          # {location.name}
mode = {q(hw.mode)}
timezone = {q(location.timezone)}
duplicate_window_s = 120
config_version = 1

[camera]
backend = {q(hw.camera)}
source = {q(hw.camera_source)}
width = 640
height = 480{watch}

[scanner]
port = {q(hw.scanner_port)}
baudrate = {hw.scanner_baud}

[decoder]
backend = "zxing"

[indicator]
backend = {q(hw.indicator)}
green_pin = 17
red_pin = 27
buzzer_pin = 22
active_high = true

[journal]
path = {q(JOURNAL_PATH)}
retention_days = 60
min_free_mb = 64

[keys]
org_keys = {q(ORG_KEYS)}
revocations = {q(REVOCATIONS)}
station_key = {q(STATION_KEY)}

[uplink]
broker = {q(broker_url)}
username = {q(station_id)}
password_file = {q(BROKER_PASSWORD)}
ca_file = {q(ca_file)}
cert_file = {q(CLIENT_CERT if client_cert else "")}
key_file = {q(CLIENT_KEY if client_cert else "")}

[clock]
source = "kernel"
"""


def _write_bundle(
    org: Org,
    folder: Path,
    station_id: str,
    location: Location,
    broker_url: str,
    key: SigningKey,
    password: str,
    hardware: Hardware,
) -> None:
    folder.chmod(FOLDER)
    tls = org.has_ca
    ca_file = CA_CERT if tls and broker_url.startswith("mqtts://") else ""
    if not org.org_keys_path.exists():
        raise ProvisioningError(f"{org.org_keys_path} is missing. Fix: restore the org backup")
    files: dict[str, tuple[str, int]] = {
        STATION_TOML: (
            station_toml(
                station_id,
                location,
                broker_url,
                ca_file=ca_file,
                client_cert=bool(ca_file),
                hardware=hardware,
            ),
            PUBLIC,
        ),
        STATION_KEY: (private_key_pem(key), PRIVATE),
        ORG_KEYS: (org.org_keys_path.read_text(encoding="utf-8"), PUBLIC),
        REVOCATIONS: (json_text(org.revocations().to_json()), PUBLIC),
        BROKER_PASSWORD: (password + "\n", PRIVATE),
    }
    if tls:
        ca = org.ca()
        issued = ca.issue_client_cert(station_id)
        files[CA_CERT] = (ca.cert_pem.decode("ascii"), PUBLIC)
        files[CLIENT_CERT] = (issued.cert_pem.decode("ascii"), PUBLIC)
        files[CLIENT_KEY] = (issued.key_pem.decode("ascii"), PRIVATE)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    files[README] = (
        BUNDLE_README.format(
            station=station_id,
            location=location.id,
            location_name=location.name,
            org=org.name,
            created=created,
            tls_lines=_TLS_README if tls else "",
        ),
        PUBLIC,
    )
    for name, (text, mode) in files.items():
        write_atomically(folder / name, text, mode=mode)
    _check_bundle(folder, station_id, location, broker_url, key)
    manifest = {
        "format": MANIFEST_FORMAT,
        "station": station_id,
        "location": location.id,
        "organisation": org.name,
        "created": created,
        "files": [_file_entry(folder, name) for name in sorted(files)],
    }
    write_atomically(folder / MANIFEST, json_text(manifest), mode=PUBLIC)


def set_hardware(org: Org, station_id: str, hardware: Hardware) -> Path:
    """Give an enrolled station's bundle another hardware (its config follows, its identity,
    keys and broker login stay), and rewrite the manifest so that the flasher and the station
    accept the changed config. Returns the bundle folder."""
    hardware.check()
    folder = org.stations_dir / station_id
    manifest_path = folder / MANIFEST
    try:
        verify_bundle(folder)  # an untouched bundle, or we would vouch for a changed one
        config = station_config.load(folder / STATION_TOML)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ConfigError, OSError, ValueError) as exc:
        raise ProvisioningError(f"{folder}: not a bundle to change ({exc})") from exc
    location = find_location(org, config.station.location)
    text = station_toml(
        station_id,
        location,
        config.uplink.broker,
        ca_file=config.uplink.ca_file,
        client_cert=bool(config.uplink.cert_file),
        hardware=hardware,
    )
    write_atomically(folder / STATION_TOML, text, mode=PUBLIC)
    key = load_signing_key(folder / STATION_KEY)
    _check_bundle(folder, station_id, location, config.uplink.broker, key)
    manifest["files"] = [_file_entry(folder, entry["path"]) for entry in manifest["files"]]
    write_atomically(manifest_path, json_text(manifest), mode=PUBLIC)
    return folder


def _file_entry(folder: Path, name: str) -> dict[str, object]:
    path = folder / name
    data = path.read_bytes()
    return {
        "path": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "mode": f"{path.stat().st_mode & 0o777:04o}",
    }


def _check_bundle(
    folder: Path, station_id: str, location: Location, broker_url: str, key: SigningKey
) -> None:
    """Load the bundle the way the station will; any difference is a bug here, not the
    user's: fail loudly rather than hand out a bundle that does not start."""
    path = folder / STATION_TOML
    try:
        config = station_config.load(path)
        KeyRing.from_json(json.loads(config.path(config.keys.org_keys).read_text()))
        loaded = load_signing_key(config.path(config.keys.station_key))
        password = config.path(config.uplink.password_file).read_text().strip()
    except (ConfigError, ValueError, OSError) as exc:
        raise ProvisioningError(f"the generated bundle does not load ({exc}): a bug") from exc
    expected = (station_id, location.id, location.timezone, broker_url, station_id)
    got = (
        config.station.id,
        config.station.location,
        config.station.timezone,
        config.uplink.broker,
        config.uplink.username,
    )
    if got != expected or raw_public(loaded.public) != raw_public(key.public) or not password:
        raise ProvisioningError(f"the generated {path} loads as {got}, not {expected}: a bug")


def verify_bundle(folder: Path) -> dict[str, object]:
    """Check a bundle against its manifest.json (every file present, same SHA-256, no file
    missing from the manifest); return the manifest. For the installer and the flasher."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProvisioningError(f"{folder / MANIFEST}: not a bundle manifest ({exc})") from exc
    listed = set()
    for entry in entries:
        name = entry["path"]
        listed.add(name)
        path = folder / name
        if "/" in name or not path.is_file():
            raise ProvisioningError(f"{folder}: {name} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ProvisioningError(f"{folder}: {name} differs from manifest.json (damaged?)")
    extra = {p.name for p in folder.iterdir()} - listed - {MANIFEST}
    if extra:
        raise ProvisioningError(f"{folder}: files not in manifest.json: {sorted(extra)}")
    result: dict[str, object] = manifest
    return result


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- another hub ------------------------------------------------------------------------------


def register_enrolled(org: Org, hub_store_url: str) -> list[tuple[str, str]]:
    """Register every station enrolled in the org folder at a hub store, with the public key
    and location its bundle holds: for a second hub (a fallback, or a fresh one after a
    disaster), so that it trusts the same stations. Idempotent: a station already there gets
    the bundle's key and location again. Returns (station id, location) of each."""
    from presensi.hub.store import StationInfo

    found: list[tuple[str, SigningKey, str]] = []
    if org.stations_dir.is_dir():
        for bundle in sorted(p for p in org.stations_dir.iterdir() if p.is_dir()):
            if bundle.name.startswith("."):
                continue  # a staging folder of an enrollment that did not finish
            try:
                config = station_config.load(bundle / STATION_TOML)
                key = load_signing_key(bundle / STATION_KEY)
            except (ConfigError, OSError, ValueError) as exc:
                raise ProvisioningError(
                    f"{bundle}: not a readable enrollment bundle ({exc}). Fix: remove it or "
                    "enroll that station again"
                ) from exc
            found.append((config.station.id, key, config.station.location))
    if not found:
        raise ProvisioningError(f"no enrolled stations in {org.stations_dir}: nothing to register")
    from presensi.provisioning.hub_store import hub_store

    with hub_store(hub_store_url) as store:
        for station_id, key, location in found:
            store.register_station(StationInfo(station_id, raw_public(key.public), location))
    return [(station_id, location) for station_id, _, location in found]
