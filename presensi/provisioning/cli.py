"""`presensi provision ...`: installer and admin tools (broker credentials, for now)."""

from __future__ import annotations

import grp
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import click

from presensi.provisioning.broker import (
    USERNAME,
    BrokerProvisioningError,
    acl_text,
    generate_password,
    hash_password,
    mosquitto_conf,
    write_atomic,  # temp file, fsync, rename: a broker reload never reads half a file
)

# what `provision broker` writes into its output folder
PASSWORD_FILE = "passwd"  # noqa: S105 (a file name)
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
CREDENTIALS_DIR = "credentials"


def _fail(exc: Exception) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group()
def provision() -> None:
    """Enroll stations and write broker credentials."""


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
    default=None,
    help="Where passwd and acl will live on the broker host, for mosquitto.conf "
    "(default: the --out folder).",
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

    Re-running with more stations adds them: users already in the password file keep their
    password (the file is read first), so deployed stations stay connected. Each new user's
    password goes to credentials/USER.password (mode 0600), for the installer to copy to the
    station (uplink.password_file) or the hub (--password-file).
    """
    try:
        wanted = _station_ids(stations_file, stations)
        if not wanted:
            raise click.UsageError("give stations with --stations-file or --station")
        if group is not None:
            _check_group(group)
        plan = _plan(out_dir, wanted, hub_users)
        conf = _Conf(install_dir, port, bind_address, persistence_location)
        written = _write(plan, conf, group)
    except (BrokerProvisioningError, OSError, UnicodeDecodeError) as exc:
        _fail(exc)
    for path, what in written:
        click.echo(f"wrote {path}: {what}")
    click.echo(
        "Reload the broker to apply the password file and ACL: `systemctl reload mosquitto` "
        "(or `kill -HUP <mosquitto pid>`); a changed listener needs a restart."
    )


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
    plan = _Plan(out_dir, stations, hubs, _read_password_file(out_dir / PASSWORD_FILE))
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


def _read_password_file(path: Path) -> dict[str, str]:
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


def _write(plan: _Plan, settings: _Conf, group: str | None) -> list[tuple[Path, str]]:
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, str]] = []
    if plan.new_passwords:
        plan.credentials.mkdir(mode=0o700, exist_ok=True)
    # credentials first: a password in the password file is never one nobody has a copy of
    for user, password in sorted(plan.new_passwords.items()):
        path = plan.credentials / f"{user}.password"
        write_atomic(path, password + "\n", mode=0o600, group=None)
        written.append((path, f"new password of {user}: copy it to {user}, then delete it here"))

    passwd = plan.out_dir / PASSWORD_FILE
    text = "".join(f"{user}:{plan.hashes[user]}\n" for user in sorted(plan.hashes))
    write_atomic(passwd, text, mode=0o640, group=group)
    written.append(
        (
            passwd,
            f"password file, {len(plan.hashes)} users ({len(plan.new_passwords)} new, "
            f"{len(plan.restored)} restored from credentials/, the others unchanged)",
        )
    )
    acl = plan.out_dir / ACL_FILE
    write_atomic(acl, acl_text(plan.stations, plan.hub_users), mode=0o640, group=group)
    written.append((acl, f"ACL for {len(plan.stations)} stations, hub users {plan.hub_users}"))

    where = Path(settings.install_dir) if settings.install_dir else plan.out_dir.resolve()
    conf = plan.out_dir / CONF_FILE
    text = mosquitto_conf(
        password_file=where / PASSWORD_FILE,
        acl_file=where / ACL_FILE,
        persistence_location=settings.persistence_location,
        port=settings.port,
        bind_address=settings.bind_address,
    )
    write_atomic(conf, text, mode=0o644, group=None)
    written.append((conf, f"broker config using {where / PASSWORD_FILE} and {where / ACL_FILE}"))
    return written
