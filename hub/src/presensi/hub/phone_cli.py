"""`presensi hub phone ...`: enrollment codes for phone badges and the revocation list that
carries the revoked phones to the stations (docs/phone-badge.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from presensi.hub.console.cli import _store_option
from presensi.protocol.cli import fail as _fail


@click.group()
def phone() -> None:
    """Phone badges: enrollment codes, enrolled phones, their revocations."""


@phone.command("enroll-code")
@_store_option
@click.argument("employee")
@click.option("--by", default="cli", show_default=True, help="Who issues it (for the audit).")
def enroll_code(store_url: str, employee: str, by: str) -> None:
    """A one-time enrollment code for EMPLOYEE's phone (24 h; printed once, stored hashed).

    The employee opens https://HUB/ponsel/ on the phone and types it. A new code cancels an
    unused earlier one; enrolling a phone revokes the employee's previous phone.
    """
    from presensi.hub import phones
    from presensi.hub.errors import HubError
    from presensi.hub.store import SqlStore, open_store

    try:
        store = open_store(store_url, existing=True)
        assert isinstance(store, SqlStore)
        try:
            now = time.time_ns() // 1_000_000
            code = phones.issue_code(store.database, employee, by=by, now_ms=now)
        finally:
            store.close()
    except HubError as exc:
        _fail(exc)
    click.echo(code)


@phone.command("list")
@_store_option
@click.argument("employee")
def list_phones(store_url: str, employee: str) -> None:
    """EMPLOYEE's phones, newest first: serial, state, valid until (UTC)."""
    import datetime as dt

    from presensi.hub import phones
    from presensi.hub.errors import HubError
    from presensi.hub.store import SqlStore, open_store

    try:
        store = open_store(store_url, existing=True)
        assert isinstance(store, SqlStore)
        try:
            held = phones.phones_of(store.database, employee)
        finally:
            store.close()
    except HubError as exc:
        _fail(exc)
    now_s = time.time_ns() // 1_000_000_000
    for p in held:
        until = dt.datetime.fromtimestamp(p.valid_until_s, dt.UTC).strftime("%Y-%m-%d")
        click.echo(f"{p.serial}\t{p.state(now_s)}\t{until}")


@phone.command("revoke")
@_store_option
@click.argument("serial", type=int, required=False)
@click.option("--employee", help="Revoke every active phone of this employee instead.")
@click.option("--reason", required=True, help="Why (lost, stolen, left): kept with the phone.")
def revoke(store_url: str, serial: int | None, employee: str | None, reason: str) -> None:
    """Revoke phone SERIAL (or --employee's phones): lost, stolen, or its holder left.

    Stations learn it from the running hub's next revocation list, within seconds while
    `presensi hub run --phone-key` runs; scans made with it from now on do not count.
    """
    from presensi.hub import phones
    from presensi.hub.errors import HubError
    from presensi.hub.store import SqlStore, open_store

    try:
        store = open_store(store_url, existing=True)
        assert isinstance(store, SqlStore)
        try:
            now = time.time_ns() // 1_000_000
            done = phones.revoke(
                store.database, reason=reason, now_ms=now, serial=serial, employee=employee
            )
        finally:
            store.close()
    except HubError as exc:
        _fail(exc)
    if not done:
        _fail(f"no active phone {'of ' + employee if employee else serial} to revoke")
    click.echo(f"revoked {len(done)} phone(s): {', '.join(map(str, done))}")


@phone.command("revocations")
@_store_option
@click.option(
    "--org-revocations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The org folder's revocations.json (the cards' list).",
)
@click.option(
    "--phone-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The phone issuing key (signs the merged list).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def revocations(store_url: str, org_revocations: Path, phone_key: Path, out: Path) -> None:
    """Write a signed revocation list: the org's revoked cards plus the hub's revoked phones,
    for `presensi hub publish-fleet --revocations OUT`."""
    from presensi.hub import phones
    from presensi.hub.errors import HubError
    from presensi.hub.store import SqlStore, open_store
    from presensi.protocol.errors import ProtocolError
    from presensi.protocol.fleet import revocations_document
    from presensi.protocol.keys import Revocations, load_signing_key

    try:
        org = Revocations.from_json(json.loads(org_revocations.read_text(encoding="utf-8")))
        key = load_signing_key(phone_key)
        store = open_store(store_url, existing=True)
        assert isinstance(store, SqlStore)
        try:
            merged = phones.merged_revocations(org, phones.revoked_serials(store.database))
        finally:
            store.close()
        out.write_bytes(revocations_document(merged, key))
    except (HubError, ProtocolError, OSError, ValueError) as exc:
        _fail(exc)
    click.echo(f"revocation list version {merged.version}: {len(merged.serials)} serial(s)")
