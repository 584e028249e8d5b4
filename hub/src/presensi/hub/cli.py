"""`presensi hub ...`: run the hub, show the fleet, import exported journals, publish settings."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

from presensi.hub.errors import HubError
from presensi.protocol.cli import fail as _fail

F = TypeVar("F", bound=Callable[..., Any])

store_option = click.option(
    "--store",
    "store_url",
    default="sqlite:////var/lib/presensi-hub/hub.db",
    show_default=True,
    envvar="PRESENSI_HUB_STORE",
    help="sqlite:///data/hub.db (relative to the working folder), sqlite:////var/lib/x/hub.db "
    "(absolute), a plain file path, or postgresql://user@host/db. [env PRESENSI_HUB_STORE]",
)


tls_options = [
    click.option(
        "--ca-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        envvar="PRESENSI_BROKER_CA",
        help="mqtts://: the CA of the broker's certificate (default: the system's CAs).",
    ),
    click.option(
        "--cert-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        envvar="PRESENSI_BROKER_CERT",
        help="mqtts://: the hub's client certificate (with --key-file).",
    ),
    click.option(
        "--key-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        envvar="PRESENSI_BROKER_KEY",
        help="mqtts://: the key of --cert-file.",
    ),
]

broker_options = [
    click.option(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        show_default=True,
        envvar="PRESENSI_BROKER",
        help="mqtt://HOST[:PORT], or mqtts://HOST[:PORT] for TLS (port 8883).",
    ),
    click.option("--username", default="", envvar="PRESENSI_BROKER_USER"),
    click.option("--password-file", type=click.Path(dir_okay=False), default=None),
    *tls_options,
]


def _tls(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> Any:
    from presensi.hub.broker import TlsFiles

    return TlsFiles(ca_file, cert_file, key_file)


def publish_or_fail(
    messages: list[tuple[str, bytes]],
    broker: str,
    username: str,
    password_file: str | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    """Publish retained messages from an admin command; one line and exit 2 if the broker
    cannot be reached or refuses them."""
    from presensi.hub.broker import publish_retained
    from presensi.hub.service import read_secret

    try:
        publish_retained(
            broker,
            messages,
            username=username,
            password=read_secret(password_file),
            tls=_tls(ca_file, cert_file, key_file),
        )
    except (HubError, OSError) as exc:
        _fail(exc)


def with_broker(f: F) -> F:
    """The broker options of every command that talks to the broker."""
    for option in reversed(broker_options):
        f = option(f)
    return f


@click.group()
def hub() -> None:
    """Run the hub and inspect what it holds."""


@hub.command()
@store_option
@with_broker
@click.option("--client-id", default="presensi-hub", show_default=True)
@click.option("--share-group", default=None, help="Split the load with other hub workers.")
@click.option(
    "--phone-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="PRESENSI_HUB_PHONE_KEY",
    help="The phone issuing key (as for hub web): keep the revocation list with the revoked "
    "phones published (docs/phone-badge.md). Needs --org-keys.",
)
@click.option(
    "--org-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    envvar="PRESENSI_HUB_ORG_KEYS",
    help="The org's key list (org-keys.json, as the stations have it): which revocation lists "
    "on the broker are the org's.",
)
@click.option(
    "--derive/--no-derive",
    default=True,
    show_default=True,
    help="Derive attendance as scans arrive; --no-derive leaves it to `presensi hub attendance "
    "follow`, a process of its own (PostgreSQL: docs/operations.md).",
)
def run(
    store_url: str,
    broker: str,
    username: str,
    password_file: str | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    client_id: str,
    share_group: str | None,
    phone_key: Path | None,
    org_keys: Path | None,
    derive: bool,
) -> None:
    """Ingest scans from every station until stopped (SIGTERM or Ctrl-C)."""
    import logging

    from presensi.hub.service import Hub, read_secret
    from presensi.protocol.errors import ProtocolError

    if logging.getLogger().level > logging.INFO:  # a service: what journalctl readers need
        logging.getLogger().setLevel(logging.INFO)
    if (phone_key is None) != (org_keys is None):
        _fail("give --phone-key and --org-keys together (docs/phone-badge.md)")
    try:
        revocations = None if phone_key is None else _revocation_publisher(phone_key, org_keys)
        service = Hub(
            store_url,
            broker,
            client_id=client_id,
            username=username,
            password=read_secret(password_file),
            share_group=share_group,
            tls=_tls(ca_file, cert_file, key_file),
            revocations=revocations,
            derive=derive,
        )
    except (HubError, ProtocolError, OSError, ValueError) as exc:
        _fail(exc)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.run()


def _revocation_publisher(phone_key: Path, org_keys: Path | None) -> Any:
    import json

    from presensi.hub.revocation_publisher import RevocationPublisher
    from presensi.protocol.keys import KeyRing, load_signing_key

    assert org_keys is not None
    data = json.loads(org_keys.read_text(encoding="utf-8"))
    version = data.get("version", 0) if isinstance(data, dict) else 0
    return RevocationPublisher(
        load_signing_key(phone_key),
        KeyRing.from_json(data),
        version if isinstance(version, int) else 0,
    )


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A --tz that names a time zone, or a usage error (not a traceback)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r}: use e.g. Asia/Jakarta") from None
    return value


tz_option = click.option(
    "--tz",
    default="Asia/Jakarta",
    show_default=True,
    callback=_zone,
    help="Time zone for times shown.",
)


T = TypeVar("T")


def _read(store_url: str, what: Callable[[Any], T]) -> T:
    """Run `what` on an existing store; a missing or unreachable one is one line, exit 2."""
    from presensi.hub.errors import StoreError
    from presensi.hub.store import open_store

    try:
        store = open_store(store_url, existing=True)
    except StoreError as exc:
        _fail(exc)
    try:
        return what(store)
    except StoreError as exc:
        _fail(exc)
    finally:
        store.close()


def _when(zone: zoneinfo.ZoneInfo) -> Callable[[int | None], str]:
    def when(ms: int | None) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%d-%m %H:%M:%S") if ms else "-"

    return when


@hub.command()
@store_option
@tz_option
def stations(store_url: str, tz: str) -> None:
    """Print the fleet's status table."""

    when = _when(zoneinfo.ZoneInfo(tz))
    rows, workers = _read(store_url, lambda store: (store.stations(), store.hub_workers()))
    for w in workers:
        if w.connected:
            click.echo(f"hub {w.client_id}: connected to {w.broker} since {when(w.since_ms)}")
        else:
            click.echo(
                f"hub {w.client_id}: NOT connected to the broker {w.broker} since "
                f"{when(w.since_ms)}: the states below are as last seen"
            )
    click.echo(
        f"{'station':20s} {'location':16s} {'state':10s} {'last seen':15s} {'acked':>8s} "
        f"{'backlog':>8s} {'clock':6s} {'journals':>8s} {'unsent':>6s} {'alerts':>6s} "
        f"{'version':8s}"
    )
    for r in rows:
        clock = "-" if r.clock_synced is None else ("ntp" if r.clock_synced else "NOSYNC")
        state = "never seen" if r.last_seen_ms is None else "online" if r.online else "offline"
        backlog = "-" if r.backlog is None else str(r.backlog)
        click.echo(
            f"{r.id:20s} {r.location or '-':16s} {state:10s} {when(r.last_seen_ms):15s} "
            f"{r.committed_upto:>8d} {backlog:>8s} {clock:6s} {r.journals:>8d} {r.unsent:>6d} "
            f"{r.open_alerts:>6d} {r.version or '-':8s}"
        )


@hub.command()
@store_option
@tz_option
@click.argument("station", required=False)
def journals(store_url: str, tz: str, station: str | None) -> None:
    """Print every journal (and branch) the hub holds of a station, or of all."""

    when = _when(zoneinfo.ZoneInfo(tz))
    rows = _read(store_url, lambda store: store.journals(station))
    click.echo(
        f"{'station':20s} {'journal':32s} {'branch':>6s} {'from':>6s} {'committed':>9s} "
        f"{'reported':>8s} {'unsent':>6s} {'first scan':15s} {'last scan':15s}"
    )
    for j in rows:
        reported = "-" if j.reported_last_seq is None else str(j.reported_last_seq)
        click.echo(
            f"{j.station:20s} {j.journal:32s} {j.fork:>6d} {j.fork_seq:>6d} "
            f"{j.committed_upto:>9d} {reported:>8s} {j.unsent:>6d} {when(j.first_wall_ms):15s} "
            f"{when(j.last_wall_ms):15s}"
        )


@hub.group(invoke_without_command=True)
@store_option
@tz_option
@click.option("--all", "show_all", is_flag=True, help="Cleared alerts too.")
@click.option(
    "--lang",
    type=click.Choice(["en", "id"]),
    default="en",
    show_default=True,
    help="The language of the details (times in --tz), as the console words them.",
)
@click.pass_context
def alerts(ctx: click.Context, store_url: str, tz: str, show_all: bool, lang: str) -> None:
    """Print the open alerts, newest first (docs/operations.md says what each means)."""
    ctx.obj = store_url
    if ctx.invoked_subcommand is not None:
        return
    from presensi.hub.console.evidence import Names, describe, employees_named
    from presensi.hub.console.timefmt import Clock
    from presensi.hub.people import names
    from presensi.hub.places import places

    when = _when(zoneinfo.ZoneInfo(tz))
    clock = Clock.named(tz)

    def read(store: Any) -> tuple[list[Any], Names]:
        rows = store.alerts(open_only=not show_all, limit=1000)
        db = store.database
        named = names(db, sorted(employees_named(rows)))
        return rows, Names({p.id: p.name for p in places(db)}, named)

    rows, known = _read(store_url, read)
    for a in rows:
        cleared = f" (cleared {when(a.cleared_ms)})" if a.cleared_ms else ""
        detail = describe(a, lang, clock, known)
        click.echo(f"#{a.id} {when(a.raised_ms)} {a.station} {a.kind}{cleared}: {detail}")
    if not rows:
        click.echo("no open alerts" if not show_all else "no alerts")


@alerts.command("clear")
@click.argument("alert_id", type=int)
@click.option(
    "--store",
    "own_store",
    default=None,
    help="The store, as for `hub alerts` (given before or after `clear`).",
)
@click.pass_obj
def clear_alert(group_store: str, alert_id: int, own_store: str | None) -> None:
    """Mark an alert as handled."""
    import time

    store_url = own_store or group_store
    cleared = _read(
        store_url, lambda store: store.clear_alert(alert_id, time.time_ns() // 1_000_000)
    )
    if not cleared:
        _fail(f"no open alert #{alert_id}")
    click.echo(f"alert #{alert_id} cleared")


@hub.command("import")
@store_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def import_(store_url: str, files: tuple[Path, ...]) -> None:
    """Import journal files exported by `presensi station export` (idempotent)."""
    from presensi.hub.errors import StoreError
    from presensi.hub.importer import import_export
    from presensi.hub.store import open_store
    from presensi.protocol.errors import ProtocolError

    try:
        store = open_store(store_url, existing=True)  # a hub's store: enrolled stations in it
    except StoreError as exc:
        _fail(exc)
    failed = 0
    try:
        for path in files:
            try:
                result = import_export(store, path.read_bytes())
            except (ProtocolError, OSError) as exc:  # each file on its own: the next goes on
                click.echo(f"{path}: refused: {exc}", err=True)
                failed += 1
                continue
            marks = [
                f"{a.station} committed up to {store.committed_upto(a.station, a.journal)}"
                for a in result.acks
            ]
            click.echo(
                f"{path}: {result.inserted} new, {result.duplicates} already known; "
                + ", ".join(marks)
            )
    finally:
        store.close()
    sys.exit(1 if failed else 0)


@hub.command("publish-settings")
@click.argument("station")
@click.option(
    "--version",
    "version",
    type=click.IntRange(1, 2**63 - 1),
    required=True,
    help="Must be higher than the station's current config version.",
)
@click.option("--mode", type=click.Choice(["in", "out", "auto", "event"]), default=None)
@click.option("--event", default=None, help="Event id (roll call, ceremony) for mode 'event'.")
@click.option("--duplicate-window", "window", type=click.IntRange(0, 86_400), default=None)
@click.option("--location", default=None)
@with_broker
def publish_settings(
    station: str,
    version: int,
    mode: str | None,
    event: str | None,
    window: int | None,
    location: str | None,
    broker: str,
    username: str,
    password_file: str | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    """Send a station new settings (retained: it gets them whenever it connects)."""
    from presensi.protocol import topics, wire
    from presensi.protocol.errors import ProtocolError

    try:
        settings = wire.StationSettings(
            version=version,
            mode=mode,  # type: ignore[arg-type]  # click.Choice checked it
            event=event,
            duplicate_window_s=window,
            location=location,
        )
        payload = wire.encode(settings)
        wire.decode(payload, wire.StationSettings)  # what the station will check, checked here
        topic = topics.station_topic(station, "config")
    except ProtocolError as exc:
        _fail(exc)
    publish_or_fail(
        [(topic, payload)], broker, username, password_file, ca_file, cert_file, key_file
    )
    click.echo(f"settings version {version} published for {station}")


@hub.command("publish-fleet")
@click.option(
    "--revocations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A signed revocation list (made by the admin tools).",
)
@click.option(
    "--keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A signed organisation key list.",
)
@with_broker
def publish_fleet(
    revocations: Path | None,
    keys: Path | None,
    broker: str,
    username: str,
    password_file: str | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    """Publish signed fleet documents, retained, to every station."""
    from presensi.protocol import topics

    messages = []
    if revocations is not None:
        messages.append((topics.FLEET_REVOCATIONS, revocations.read_bytes()))
    if keys is not None:
        messages.append((topics.FLEET_KEYS, keys.read_bytes()))
    if not messages:
        _fail(HubError("nothing to publish: give --revocations and/or --keys"))
    publish_or_fail(messages, broker, username, password_file, ca_file, cert_file, key_file)
    click.echo(f"published {len(messages)} fleet document(s)")


def _add_console_commands() -> None:
    from presensi.hub.attendance.cli import attendance
    from presensi.hub.console.cli import token, user, web
    from presensi.hub.events.cli import event
    from presensi.hub.phone_cli import phone

    hub.add_command(attendance)
    hub.add_command(event)
    hub.add_command(web)
    hub.add_command(user)
    hub.add_command(token)
    hub.add_command(phone)


_add_console_commands()
