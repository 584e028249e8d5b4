"""`presensi hub web` (the console) and `presensi hub user ...` (its accounts)."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from presensi.protocol.cli import fail as _fail

if TYPE_CHECKING:
    from presensi.hub.console.data import ConsoleData

STORE_HELP = "The hub's store (as for `presensi hub run`). [env PRESENSI_HUB_STORE]"


def _store_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--store",
        "store_url",
        default="sqlite:////var/lib/presensi-hub/hub.db",
        show_default=True,
        envvar="PRESENSI_HUB_STORE",
        help=STORE_HELP,
    )(f)


def read_secret(path: Path) -> str:
    """The cookie-signing secret in `path`, made (0600) at first start."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secret + "\n")
        return secret
    if len(secret) < 32:
        raise click.ClickException(f"{path}: the secret is too short (at least 32 characters)")
    return secret


@click.command()
@_store_option
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to serve on."
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/var/lib/presensi-hub/console.secret"),
    show_default=True,
    help="Signs the login cookies; made at first start (0600).",
)
@click.option("--tz", default="Asia/Jakarta", show_default=True, help="The operators' time zone.")
@click.option(
    "--secure-cookies/--no-secure-cookies",
    default=False,
    show_default=True,
    help="Behind a TLS reverse proxy: send cookies over https only.",
)
@click.option(
    "--phone-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The phone issuing key (an org badge key, PEM): enables phone enrollment at /ponsel/.",
)
@click.option(
    "--phone-valid-days",
    type=click.IntRange(1, 3660),
    default=365,
    show_default=True,
    help="How long an enrolled phone's certificate is valid.",
)
def web(
    store_url: str,
    listen: str,
    secret_file: Path,
    tz: str,
    secure_cookies: bool,
    phone_key: Path | None,
    phone_valid_days: int,
) -> None:
    """Serve the operators' console (pages, live scans) on --listen.

    A process of its own beside `presensi hub run`: both use the same store. Put a TLS reverse
    proxy in front of it for anything but localhost (docs/console.md).
    """
    import uvicorn

    from presensi.hub.console.app import make_app
    from presensi.hub.console.core import ConsoleConfig
    from presensi.hub.console.timefmt import Clock
    from presensi.hub.errors import StoreError
    from presensi.protocol.errors import ProtocolError

    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        _fail(f"--listen {listen!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    try:
        Clock.named(tz)
        config = ConsoleConfig(
            store_url,
            read_secret(secret_file),
            zone=tz,
            secure_cookies=secure_cookies,
            phone_key=phone_key,
            phone_valid_days=phone_valid_days,
        )
        app = make_app(config)
    except (StoreError, ProtocolError, ValueError, OSError) as exc:
        _fail(exc)
    click.echo(f"console on http://{listen}/ (store {store_url})", err=True)
    uvicorn.run(app, host=host, port=int(port_text), log_level="info", proxy_headers=True)


@click.group()
def user() -> None:
    """The console's accounts: admin, operator, viewer."""


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            _fail(exc)
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@contextlib.contextmanager
def _console_data(store_url: str) -> Iterator[ConsoleData]:
    """The console's tables of an existing store; a store error is one line, exit 2."""
    from presensi.hub.console.data import ConsoleData
    from presensi.hub.errors import StoreError
    from presensi.hub.store import SqlStore, open_store

    try:
        store = open_store(store_url, existing=True)
    except StoreError as exc:
        _fail(exc)
    assert isinstance(store, SqlStore)
    try:
        yield ConsoleData(store.database)
    except StoreError as exc:
        _fail(exc)
    finally:
        store.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@user.command("add")
@_store_option
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "operator", "viewer"]),
    required=True,
    help="What they may do.",
)
@click.option("--unit", "units", multiple=True, help="A viewer sees only these units' people.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the password from a file (default: ask, or one line on stdin).",
)
def add(
    store_url: str, name: str, role: str, units: tuple[str, ...], password_file: Path | None
) -> None:
    """Add a console user (the first admin comes from here)."""
    from presensi.hub.console import accounts

    try:
        accounts.check_name(name)
        password_hash = accounts.hash_password(_password(password_file))
    except accounts.AccountError as exc:
        _fail(exc)
    now = _now_ms()
    with _console_data(store_url) as data:
        data.add_user(name, role, password_hash, units=units, now_ms=now)
        data.audit("cli", "user.add", now_ms=now, subject=name, detail=f"role={role}")
    click.echo(f"added {role} {name}")


@user.command("password")
@_store_option
@click.argument("name")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def password(store_url: str, name: str, password_file: Path | None) -> None:
    """Set a user's password (their open sessions end)."""
    from presensi.hub.console import accounts

    try:
        password_hash = accounts.hash_password(_password(password_file))
    except accounts.AccountError as exc:
        _fail(exc)
    now = _now_ms()
    with _console_data(store_url) as data:
        data.set_password(name, password_hash)
        data.audit("cli", "user.password", now_ms=now, subject=name)
    click.echo(f"new password for {name}; their sessions have ended")


@user.command("list")
@_store_option
def list_users(store_url: str) -> None:
    """Print the console's users."""

    with _console_data(store_url) as data:
        people = data.users()
    for p in people:
        units = ",".join(p.units) or "-"
        click.echo(f"{p.name:24s} {p.role:9s} {units}{'  (disabled)' if p.disabled else ''}")


@click.group()
def token() -> None:
    """Tokens of the JSON API (/api/v1, docs/console.md)."""


@token.command("add")
@_store_option
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "operator", "viewer"]),
    default="viewer",
    show_default=True,
)
@click.option("--unit", "units", multiple=True, help="Only these units' people's scans.")
def token_add(store_url: str, name: str, role: str, units: tuple[str, ...]) -> None:
    """Issue an API token; it is printed once (the store keeps only its SHA-256)."""
    from presensi.hub.console import accounts
    from presensi.hub.console.api import new_token

    try:
        accounts.check_name(name)
    except accounts.AccountError as exc:
        _fail(exc)
    secret, digest = new_token()
    now = _now_ms()
    with _console_data(store_url) as data:
        data.add_api_token(name, role, digest, units=units, now_ms=now)
        data.audit("cli", "token.add", now_ms=now, subject=name, detail=f"role={role}")
    click.echo(secret)
    click.echo(f"token {name} ({role}): shown once; send it as Authorization: Bearer ...", err=True)


@token.command("revoke")
@_store_option
@click.argument("name")
def token_revoke(store_url: str, name: str) -> None:
    """Revoke an API token at once."""

    now = _now_ms()
    with _console_data(store_url) as data:
        data.revoke_api_token(name, now)
        data.audit("cli", "token.revoke", now_ms=now, subject=name)
    click.echo(f"revoked token {name}")
