"""`presensi provision ...`: the admin tools. The organisation folder (`--org DIR`, default
$PRESENSI_ORG or ./org; docs/org-folder.md): `init`, `keys`, `locations`, `employees`, and
`station` (enrollment bundles); and the broker's credentials (`broker`)."""

from __future__ import annotations

import datetime as dt
import grp
import os
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from presensi.device.files import write_atomically
from presensi.protocol.cli import fail as _fail
from presensi.provisioning.broker import (
    BrokerProvisioningError,
    acl_text,
    generate_password,
    hash_password,
    mosquitto_conf,
    read_password_file,
)
from presensi.provisioning.cli_options import org_option
from presensi.provisioning.errors import ProvisioningError

F = TypeVar("F", bound=Any)

# what `provision broker` writes into its output folder
PASSWORD_FILE = "passwd"  # noqa: S105 (a file name)
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
SNIPPET_FILE = (
    "presensi.conf"  # for a stock Mosquitto's conf.d/ (presensi provision broker-install)
)
CREDENTIALS_DIR = "credentials"
INSTALL_DIR = "/etc/mosquitto/presensi"  # where a stock Mosquitto reads passwd and acl


_sync_store_option = click.option(
    "--hub-store",
    "hub_store_url",
    required=True,
    help="The hub's store: sqlite:////var/lib/presensi-hub/hub.db or postgresql://...",
)


@click.group()
def provision() -> None:
    """Org keys, locations, employees, station enrollment and broker credentials."""


@provision.command()
@click.option(
    "--stations-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of station ids, one a line ('#' starts a comment).",
)
@click.option("--station", "stations", multiple=True, help="A station id (repeatable).")
@click.option(
    "--hub-user",
    "hub_users",
    multiple=True,
    required=True,
    help="A broker user for the hub (repeatable); the ACL grants hub rights to these only.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the password file, ACL, mosquitto.conf and per-user credentials.",
)
@click.option(
    "--install-dir",
    default=INSTALL_DIR,
    show_default=True,
    help="Where passwd and acl will live on the broker host (broker-install puts them there).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Listener port.")
@click.option("--bind-address", default=None, help="Listen on this address only.")
@click.option(
    "--persistence-location",
    default="/var/lib/mosquitto/",
    show_default=True,
    help="The broker's persistence folder, for mosquitto.conf.",
)
@click.option(
    "--group",
    default=None,
    help="Group given read access to passwd and acl (e.g. mosquitto, which reads them "
    "after dropping root).",
)
def broker(
    stations_file: Path | None,
    stations: tuple[str, ...],
    hub_users: tuple[str, ...],
    out_dir: Path,
    install_dir: str | None,
    port: int | None,
    bind_address: str | None,
    persistence_location: str,
    group: str | None,
) -> None:
    """Write Mosquitto credentials, ACL and config for the fleet into --out.

    Stations are optional: on the first day give only the hub's user; `provision station` adds
    each station's user when it enrolls it. Re-running with more stations adds them: users
    already in the password file keep their password (the file is read first), so deployed
    stations stay connected. Each new user's password goes to credentials/USER.password (mode
    0600), for the installer to copy to the station (uplink.password_file) or the hub
    (--password-file). Then `presensi provision broker-install` on the broker host.
    """
    try:
        wanted = _station_ids(stations_file, stations)
        if group is not None:
            _check_group(group)
        plan = _plan(out_dir, wanted, hub_users)
        conf = _Conf(install_dir, port, bind_address, persistence_location)
        written = _write(plan, conf, group)
    except (BrokerProvisioningError, OSError, UnicodeDecodeError) as exc:
        _fail(exc)
    for path, what in written:
        click.echo(f"wrote {path}: {what}")
    click.echo(INSTALL_HINT.format(folder=out_dir))


# -- steps -----------------------------------------------------------------------------------


@dataclass
class _Plan:
    out_dir: Path
    stations: list[str]
    hub_users: list[str]
    hashes: dict[str, str]  # every user of the password file -> its hash line's hash
    new_passwords: dict[str, str] = field(default_factory=dict)  # generated now
    restored: list[str] = field(default_factory=list)  # hashed from an existing credential

    @property
    def credentials(self) -> Path:
        return self.out_dir / CREDENTIALS_DIR


@dataclass(frozen=True)
class _Conf:
    """What mosquitto.conf needs beyond the files."""

    install_dir: str | None
    port: int | None
    bind_address: str | None
    persistence_location: str


def _station_ids(stations_file: Path | None, stations: Iterable[str]) -> list[str]:
    ids = list(stations)
    if stations_file is not None:
        for line in stations_file.read_text(encoding="utf-8").splitlines():
            station = line.split("#", 1)[0].strip()
            if station:
                ids.append(station)
    return sorted(set(ids))


def _plan(out_dir: Path, stations: list[str], hub_users: Iterable[str]) -> _Plan:
    hubs = sorted(set(hub_users))
    acl_text(stations, hubs)  # checks station ids, hub usernames, and that they do not clash
    plan = _Plan(out_dir, stations, hubs, read_password_file(out_dir / PASSWORD_FILE))
    for user in sorted({*stations, *hubs}):
        if user in plan.hashes:
            continue  # already in the password file: its password stays
        credential = plan.credentials / f"{user}.password"
        if credential.is_file() and (password := credential.read_text().strip()):
            # the password file was lost or replaced, but the user holds this password
            plan.hashes[user] = hash_password(password)
            plan.restored.append(user)
        else:
            plan.new_passwords[user] = generate_password()
            plan.hashes[user] = hash_password(plan.new_passwords[user])
    return plan


def _check_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        raise BrokerProvisioningError(f"no group named {name!r} on this machine") from None


def _write(plan: _Plan, settings: _Conf, group: str | None) -> list[tuple[Path, str]]:
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str]] = []
    if plan.new_passwords:
        plan.credentials.mkdir(mode=0o700, exist_ok=True)
    # credentials first: a password in the password file is never one nobody has a copy of
    for user, password in sorted(plan.new_passwords.items()):
        path = plan.credentials / f"{user}.password"
        write_atomically(path, password + "\n", mode=0o600)
        written.append((path, f"new password of {user}: copy it to {user}, then delete it here"))

    passwd = plan.out_dir / PASSWORD_FILE
    text = "".join(f"{user}:{plan.hashes[user]}\n" for user in sorted(plan.hashes))
    write_atomically(passwd, text, mode=0o640, group=group)
    written.append(
        (
            passwd,
            f"password file, {len(plan.hashes)} users ({len(plan.new_passwords)} new, "
            f"{len(plan.restored)} restored from credentials/, the others unchanged)",
        )
    )
    acl = plan.out_dir / ACL_FILE
    write_atomically(acl, acl_text(plan.stations, plan.hub_users), mode=0o640, group=group)
    written.append((acl, f"ACL for {len(plan.stations)} stations, hub users {plan.hub_users}"))

    where = Path(settings.install_dir) if settings.install_dir else plan.out_dir.resolve()
    for name, include in ((CONF_FILE, False), (SNIPPET_FILE, True)):
        conf = plan.out_dir / name
        text = mosquitto_conf(
            password_file=where / PASSWORD_FILE,
            acl_file=where / ACL_FILE,
            persistence_location=settings.persistence_location,
            port=settings.port,
            bind_address=settings.bind_address,
            include=include,
        )
        write_atomically(conf, text, mode=0o644)
        what = "the snippet for conf.d/ of a stock Mosquitto" if include else "a whole config"
        written.append((conf, f"{what}, using {where / PASSWORD_FILE} and {where / ACL_FILE}"))
    return written


INSTALL_HINT = (
    "Next, on the broker host (as root): `presensi provision broker-install --from {folder}` "
    "copies passwd and acl to /etc/mosquitto/presensi/ (root:mosquitto 0640) and presensi.conf "
    "to /etc/mosquitto/conf.d/, and reloads Mosquitto. On another host, copy those three "
    "files to the same places and run `systemctl reload mosquitto`."
)


@provision.command("broker-install")
@org_option
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The folder `provision broker` wrote (default: ORG/broker).",
)
@click.option(
    "--etc",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/mosquitto"),
    show_default=True,
    help="Mosquitto's configuration folder.",
)
@click.option("--group", default="mosquitto", show_default=True, help="The broker's group.")
@click.option("--no-reload", is_flag=True, help="Copy only; do not signal Mosquitto.")
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/run/mosquitto/mosquitto.pid"),
    show_default=True,
    help="The running broker's pid file (its mosquitto.conf pid_file): it gets SIGHUP.",
)
def broker_install(
    org_dir: Path, source: Path | None, etc: Path, group: str, no_reload: bool, pid_file: Path
) -> None:
    """Install the broker files where a stock Mosquitto reads them, and reload it."""
    from presensi.provisioning.broker_install import install

    folder = org_dir / "broker" if source is None else source
    try:
        done = install(folder, etc=etc, group=group, reload=not no_reload, pid_file=pid_file)
    except (BrokerProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"installed {done.passwd}, {done.acl} (group {group}, 0640) and {done.conf}")
    click.echo(f"reload: {done.reloaded}")


# -- the organisation folder -----------------------------------------------------------------


@provision.command()
@org_option
@click.option("--name", required=True, help="The organisation's name (printed on badges).")
@click.option(
    "--timezone",
    default="Asia/Jakarta",
    show_default=True,
    help="IANA time zone: the default of attendance points and badge dates.",
)
@click.option(
    "--with-ca", is_flag=True, help="Also make a CA for station TLS client certificates (ca/)."
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing organisation's keys (moved to replaced-<time>/, not deleted).",
)
def init(org_dir: Path, name: str, timezone: str, with_ca: bool, force: bool) -> None:
    """Create the organisation folder with its first badge-signing key."""
    from presensi.provisioning.org import Org

    try:
        org = Org.init(org_dir, name, timezone, force=force, with_ca=with_ca)
        key = org.signing_key()
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"created organisation {org.name!r} in {org.path} (time zone {org.timezone})")
    click.echo(f"badge key {key.key_id.hex()} signs badges; private key in {org.keys_dir}/ (0600)")
    click.echo(
        f"stations trust {org.org_keys_path.name} (signed copy: {org.org_keys_signed_path.name})"
    )
    if with_ca:
        click.echo(f"CA for station client certificates in {org.ca_dir}/")
    click.echo("Back this folder up offline: it holds the keys that make badges.")


@provision.group()
def keys() -> None:
    """Badge-signing keys: list, add (rotation), add-phone (the hub's), retire."""


@keys.command("list")
@org_option
def keys_list(org_dir: Path) -> None:
    """List the badge keys; the newest active one signs."""
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        version, entries = org.key_list_version(), org.key_entries()
        signer = org.signing_key().key_id.hex()
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    zone = zoneinfo.ZoneInfo(org.timezone)
    click.echo(f"key list version {version} ({org.path / 'keys.json'})")
    for entry in entries:
        created = dt.datetime.fromtimestamp(entry.created_ms / 1000, zone)
        note = "  <- signs badges" if entry.key_id == signer else ""
        if entry.purpose == "phones":
            note = "  (phone issuing key: its private half is on the hub)"
        click.echo(f"{entry.key_id}  {entry.status:7s}  created {created:%Y-%m-%d %H:%M %Z}{note}")


@keys.command("add")
@org_option
def keys_add(org_dir: Path) -> None:
    """Rotation: a new key signs badges from now on; the old keys stay valid until retired."""
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        old = org.signing_key().key_id.hex()
        key = org.add_key()
        version = org.key_list_version()
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"new badge key {key.key_id.hex()} signs badges from now on")
    click.echo(
        f"key list version {version}, signed by {old} (which every station trusts): publish "
        f"{org.org_keys_signed_path} to the stations through the hub"
    )
    click.echo(
        f"Badges signed by {old} stay valid. When they have been replaced: "
        f"`presensi provision keys retire {old}`"
    )


@keys.command("add-phone")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write its private key (0600), for `presensi hub web --phone-key`.",
)
@org_option
def keys_add_phone(out: Path, org_dir: Path) -> None:
    """A phone issuing key: the hub certifies enrolled phones with it (docs/phone-badge.md).

    Its private key goes to --out only (copy it to the hub, then delete it here); stations
    trust it once they have the new key list. It never signs cards.
    """
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        key = org.add_phone_key(out)
        version, signer = org.key_list_version(), org.signing_key().key_id.hex()
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"phone issuing key {key.key_id.hex()} written to {out}")
    click.echo(
        f"key list version {version}, signed by {signer}: publish {org.org_keys_signed_path} "
        "to the stations through the hub, then run `presensi hub web --phone-key` with it"
    )


@keys.command("retire")
@click.argument("key_id")
@org_option
def keys_retire(key_id: str, org_dir: Path) -> None:
    """Retire KEY_ID: stations stop accepting its badges once they get the new list."""
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        retired = org.retire_key(key_id)
        version, signer = org.key_list_version(), org.signing_key().key_id.hex()
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"retired badge key {retired.key_id}; key list version {version}")
    click.echo(
        f"Publish {org.org_keys_signed_path} (signed by {signer}) to the stations through the "
        f"hub; from then on badges of {retired.key_id} are refused (unknown_key)."
    )


@provision.group()
def locations() -> None:
    """Attendance points: import, export, or install the 42-point sample."""


@locations.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@org_option
def locations_import(file: Path, org_dir: Path) -> None:
    """Check FILE (id,name,kind,latitude,longitude,timezone) and make it the org's list."""
    from presensi.provisioning.locations import import_locations
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        imported = import_locations(org, file)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"imported {len(imported)} attendance points into {org.locations_path}")


@locations.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@org_option
def locations_export(file: Path, org_dir: Path) -> None:
    """Write the org's attendance points to FILE as CSV ('-': standard output)."""
    from presensi.provisioning.locations import export_locations, load_locations, locations_csv
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        if str(file) == "-":
            click.echo(locations_csv(load_locations(org)), nl=False)
            return
        exported = export_locations(org, file)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"wrote {len(exported)} attendance points to {file}", err=True)


@locations.command("sync")
@org_option
@_sync_store_option
def locations_sync(org_dir: Path, hub_store_url: str) -> None:
    """Give the hub's store the org's attendance points (the console's Lokasi page)."""
    from presensi.provisioning.locations import sync_to_hub
    from presensi.provisioning.org import Org

    try:
        count, removed = sync_to_hub(Org.open(org_dir), hub_store_url)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(
        f"{count} attendance points at {hub_store_url} ({removed} no longer listed, removed)"
    )


@locations.command("sample")
@org_option
def locations_sample(org_dir: Path) -> None:
    """Install the shipped sample: the 42 points of Trans Semarang (for the demo)."""
    from presensi.provisioning.locations import import_locations, sample_csv_text
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        imported = import_locations(org, sample_csv_text())
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"installed the sample: {len(imported)} attendance points in {org.locations_path}")


@provision.group()
def employees() -> None:
    """The employee list: import a CSV, or make a sample one."""


@employees.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@org_option
def employees_import(file: Path, org_dir: Path) -> None:
    """Check FILE (number,name,unit,shift_group) and make it the org's employee list."""
    from presensi.provisioning.employees import import_employees
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        imported = import_employees(org, file)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"imported {len(imported)} employees into {org.employees_path} (0600)")


@employees.command("sync")
@org_option
@_sync_store_option
def employees_sync(org_dir: Path, hub_store_url: str) -> None:
    """Give the hub's store the org's employees and badges (names, units and badge states for
    the console). Run it again after importing employees or issuing or revoking badges."""
    from presensi.provisioning.employees import sync_to_hub
    from presensi.provisioning.org import Org

    try:
        listed, added, changed, retired, badges = sync_to_hub(Org.open(org_dir), hub_store_url)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(
        f"{listed} employees at {hub_store_url}: {added} new, {changed} changed, "
        f"{retired} no longer listed (kept, inactive); {badges} badge changes"
    )


@employees.command("sample")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--count", default=810, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=0, show_default=True, type=int)
def employees_sample(file: Path, count: int, seed: int) -> None:
    """Write a made-up employee list (Indonesian names) to FILE, for trying things out."""
    from presensi.provisioning.employees import employees_csv, sample_employees

    text = employees_csv(sample_employees(count, seed))
    if str(file) == "-":
        click.echo(text, nl=False)
        return
    try:
        write_atomically(file, text, mode=0o600)
    except OSError as exc:
        _fail(exc)
    click.echo(f"wrote {count} sample employees to {file}", err=True)


def _hardware_options(f: F) -> F:
    """What the station is built of: its config follows, its self-test checks it."""
    options = [
        click.option(
            "--camera",
            type=click.Choice(["picamera2", "opencv", "folder", "none"]),
            default="picamera2",
            show_default=True,
            help="The camera: a Pi camera module, a USB camera (OpenCV), a folder that another "
            "program puts images in (watched for new ones), or none (a serial scanner only).",
        ),
        click.option(
            "--camera-source",
            default="",
            help="opencv: a device index (0) or /dev/videoN; folder: its absolute path.",
        ),
        click.option(
            "--scanner-port",
            default="",
            help="A serial QR scanner module: /dev/serial0 (UART) or /dev/ttyACM0 (USB-COM).",
        ),
        click.option(
            "--scanner-baud",
            type=click.IntRange(1200, 921_600),
            default=9600,
            show_default=True,
            help="The scanner module's baud rate.",
        ),
        click.option(
            "--indicator",
            type=click.Choice(["gpio", "console", "none"]),
            default="gpio",
            show_default=True,
            help="LEDs and buzzer on GPIO (hardware/README.md), the console, or none.",
        ),
        click.option(
            "--mode",
            type=click.Choice(["auto", "in", "out"]),
            default="auto",
            show_default=True,
            help="auto: first scan of the day in, later ones out; or only in, or only out.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@provision.command()
@org_option
@click.option("--location", "location_id", required=True, help="The attendance point's id.")
@click.option("--id", "station_id", default=None, help="Station id (default: st-LOCATION-NN).")
@click.option(
    "--broker",
    "broker_url",
    required=True,
    help="The broker stations connect to: mqtts://HOST[:PORT] (or mqtt:// on a closed network).",
)
@click.option(
    "--hub-store",
    "hub_store_url",
    default=None,
    help="Register the station at this hub store: sqlite:///relative/hub.db, "
    "sqlite:////absolute/hub.db, a file path, or postgresql://...",
)
@_hardware_options
def station(
    org_dir: Path,
    location_id: str,
    station_id: str | None,
    broker_url: str,
    hub_store_url: str | None,
    **hardware: Any,
) -> None:
    """Enroll a new station: key, broker user, hub registration and an SD-card bundle."""
    from presensi.provisioning.enroll import Hardware, enroll_station
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        bundle = enroll_station(
            org,
            station_id,
            location_id,
            broker_url=broker_url,
            hub_store_url=hub_store_url,
            hardware=Hardware(**hardware),
        )
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    sid = bundle.name
    click.echo(f"enrolled station {sid} at {location_id}: bundle {bundle}{os.sep}")
    click.echo(f"broker user {sid} added to {org.broker_dir / PASSWORD_FILE}")
    if hub_store_url:
        click.echo(f"registered at the hub store {hub_store_url}")
    else:
        click.echo(
            "not registered at a hub (no --hub-store): the hub refuses its batches until it is"
        )
    if not _has_hub_user(org.broker_dir / ACL_FILE):
        click.echo(
            f"note: {org.broker_dir / ACL_FILE} names no hub user yet: run `presensi provision "
            f"broker --out {org.broker_dir} --hub-user hub`"
        )
    click.echo(_broker_must_learn(org.broker_dir))
    click.echo(
        "Then give the bundle to the installer: copy it to the SD card's boot partition as "
        f"presensi/, or flash it over the serial console (see {bundle / 'README.txt'})."
    )


@provision.command()
@org_option
@click.option(
    "--hub-store",
    "hub_store_url",
    required=True,
    help="The hub store to register the stations at: sqlite:///relative/hub.db, "
    "sqlite:////absolute/hub.db, a file path, or postgresql://...",
)
def register(org_dir: Path, hub_store_url: str) -> None:
    """Register every enrolled station at a (second, or new) hub store, so that it trusts them."""
    from presensi.provisioning.enroll import register_enrolled
    from presensi.provisioning.org import Org

    try:
        done = register_enrolled(Org.open(org_dir), hub_store_url)
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    for station_id, location in done:
        click.echo(f"registered {station_id} ({location})")
    click.echo(f"{len(done)} stations registered at {hub_store_url}")


@provision.command("station-hardware")
@org_option
@click.argument("station_id")
@_hardware_options
def station_hardware(org_dir: Path, station_id: str, **hardware: Any) -> None:
    """Change what an enrolled station is built of: its bundle's config and manifest are
    written again (same identity, keys and broker login), ready to flash or copy."""
    from presensi.provisioning.enroll import Hardware, set_hardware
    from presensi.provisioning.org import Org

    try:
        folder = set_hardware(Org.open(org_dir), station_id, Hardware(**hardware))
    except (ProvisioningError, OSError) as exc:
        _fail(exc)
    click.echo(f"{folder / 'station.toml'}: hardware changed; manifest.json written again")


def _broker_must_learn(broker_dir: Path) -> str:
    """What to do so that the broker reads the new user: where its password file is installed
    follows `provision broker --install-dir` (named in the generated presensi.conf)."""
    installed = _installed_passwd(broker_dir)
    source = broker_dir / PASSWORD_FILE
    if installed is None:
        return (
            f"The broker must learn the new user: copy {source} to where your broker reads its "
            f"password file (no {broker_dir / SNIPPET_FILE} says where: run `presensi provision "
            "broker` first) and reload it (`systemctl reload mosquitto`)."
        )
    folder = installed.parent
    if installed.name == PASSWORD_FILE and folder.name == "presensi":
        etc = "" if folder.parent == Path("/etc/mosquitto") else f" --etc {folder.parent}"
        install = f"`presensi provision broker-install --from {broker_dir}{etc}`, or "
    else:  # broker-install puts files in ETC/presensi/ only: this layout is copied by hand
        install = ""
    return (
        f"The broker must learn the new user: on the broker host (as root), {install}copy "
        f"{source} to {installed} (and the acl beside it) and `systemctl reload mosquitto`."
    )


def _installed_passwd(broker_dir: Path) -> Path | None:
    for name in (SNIPPET_FILE, CONF_FILE):
        try:
            lines = (broker_dir / name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            key, _, value = line.strip().partition(" ")
            if key == "password_file" and value.strip():
                return Path(value.strip())
    return None


def _has_hub_user(acl: Path) -> bool:
    try:
        return any(line.startswith("user ") for line in acl.read_text().splitlines())
    except OSError:
        return False


def _serial_commands() -> None:
    from presensi.provisioning.serial_cli import flash

    provision.add_command(flash)


_serial_commands()


def _add_halte() -> None:
    from presensi.provisioning.halte_cli import halte

    provision.add_command(halte)


_add_halte()
