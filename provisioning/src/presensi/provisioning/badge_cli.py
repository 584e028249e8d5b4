"""`presensi badge ...`: issue, reissue, revoke and verify employee badges.

    presensi badge issue --out badges.pdf                      # everyone in org/employees.csv
    presensi badge reissue EMP-00017 --reason lost --out EMP-00017.pdf
    presensi badge revoke --employee EMP-00017 --reason left
    presensi badge verify 'PRS1:...'

`--org` defaults to $PRESENSI_ORG, else ./org. User errors print `error: ...` and exit 2;
`verify` exits 0 for an accepted badge and 1 for a rejected one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import sys
import time
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from presensi.protocol import badge as badge_token
from presensi.protocol.cli import fail as _fail
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations
from presensi.protocol.reasons import Reason
from presensi.provisioning.cli_options import org_option
from presensi.provisioning.errors import ProvisioningError

if TYPE_CHECKING:
    from presensi.provisioning.badge_pdf import SheetStats
    from presensi.provisioning.badges import IssuedBadge
    from presensi.provisioning.org import Org

DISPLAY_TZ = "Asia/Jakarta"
EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2

# what each verdict means, for the person at the desk (docs/protocol.md)
EXPLAIN = {
    Reason.OK: "accepted: signed by a trusted org key, not revoked, within its validity",
    Reason.NOT_A_BADGE: "the text does not start with PRS1: (another kind of QR code)",
    Reason.MALFORMED: "starts with PRS1: but is not a complete, canonical v1 token",
    Reason.UNKNOWN_KEY: "signed by a key not in the key list (another organisation, or retired)",
    Reason.BAD_SIGNATURE: "the signature does not match the bytes (edited or forged)",
    Reason.REVOKED: "the serial is on the revocation list",
    Reason.NOT_YET_VALID: "before its 'valid from' time",
    Reason.EXPIRED: "at or after its 'valid until' time",
}

F = TypeVar("F", bound=Callable[..., Any])


def _valid_days_option(f: F) -> F:
    from presensi.provisioning.badges import DEFAULT_VALID_DAYS

    return click.option(
        "--valid-days",
        type=click.IntRange(1, 3660),
        default=DEFAULT_VALID_DAYS,
        show_default=True,
        help="Validity from the start of today (org time zone).",
    )(f)


@click.group()
def badge() -> None:
    """Issue, reissue, revoke and verify employee badges."""


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A temporary file beside `out`, renamed to `out` if the block succeeds, removed if not:
    no half-written PDF, and none at all for badges that were not recorded."""
    if not out.parent.is_dir():
        raise ProvisioningError(f"{out.parent}: no such folder for --out. Fix: create it first")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if tmp.exists():  # nothing written (nothing to issue): leave `out` alone
        tmp.replace(out)


def _print_pdf(
    out: Path, organisation: str, timezone: str, label: str
) -> tuple[Callable[[list[IssuedBadge]], None], list[SheetStats]]:
    """A before_commit callback that renders the issued badges to `out`, with a progress bar;
    the list receives the sheet statistics."""
    from presensi.provisioning.badge_pdf import Card, render_pdf, unsupported_characters

    result: list[SheetStats] = []

    def render(issued: list[IssuedBadge]) -> None:
        for b in issued:
            missing = unsupported_characters(b.name + b.unit)
            if missing:
                click.echo(
                    f"warning: {b.employee}: the card font has no glyph for "
                    f"{''.join(sorted(missing))!r}; they print as boxes",
                    err=True,
                )
        cards = [
            Card(
                organisation, b.name, b.employee, b.unit, b.serial, b.token, b.valid_from,
                b.valid_until, timezone,
            )
            for b in issued
        ]  # fmt: skip
        with click.progressbar(length=len(cards), label=label, file=sys.stderr) as bar:
            result.append(
                render_pdf(out, cards, title=f"Badges: {organisation}", progress=bar.update)
            )

    return render, result


def _when(unix: float, timezone: str = DISPLAY_TZ) -> str:
    when = dt.datetime.fromtimestamp(unix, zoneinfo.ZoneInfo(timezone))
    return when.strftime("%Y-%m-%d %H:%M %Z")


def _day(unix: int, timezone: str) -> str:
    return dt.datetime.fromtimestamp(unix, zoneinfo.ZoneInfo(timezone)).strftime("%Y-%m-%d")


def _serial_ranges(serials: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for s in sorted(serials):
        if prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = s
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def _next_step(signed: Path) -> str:
    return (
        f"next: presensi hub publish-fleet --revocations {signed} --broker mqtts://BROKER:8883 "
        "--username hub --password-file HUB.password (or --cert-file/--key-file/--ca-file)"
    )


@badge.command()
@org_option
@click.option(
    "--employees",
    "employees_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV with number,name,unit,shift_group (default: the org's employees.csv).",
)
@_valid_days_option
@click.option(
    "--existing",
    type=click.Choice(["error", "skip", "renew"]),
    default="error",
    show_default=True,
    help="For employees who already hold a valid badge: refuse the run, leave them out, or "
    "issue a new badge while the old one stays valid until it expires.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The PDF of printable A4 sheets to write.",
)
def issue(
    org_dir: Path,
    employees_file: Path | None,
    valid_days: int,
    existing: Literal["error", "skip", "renew"],
    out: Path,
) -> None:
    """Sign one badge per employee and write printable card sheets."""
    from presensi.provisioning import badges
    from presensi.provisioning.employees import load_employees, read_employees
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        staff = load_employees(org) if employees_file is None else read_employees(employees_file)
        with _staged(out) as tmp:
            render, stats = _print_pdf(tmp, org.name, org.timezone, "Drawing badges")
            issued = badges.issue(
                org,
                staff,
                valid_days=valid_days,
                existing=existing,
                before_commit=render,
            )
            if not issued:
                click.echo("nothing to issue: every employee already holds a valid badge")
                return
    except (ProvisioningError, OSError, sqlite3.Error) as exc:
        _fail(exc)
    first = issued[0]
    sheet = stats[0]
    click.echo(
        f"issued {len(issued)} badge(s), serials {_serial_ranges([b.serial for b in issued])}, "
        f"key {first.key_id}"
    )
    click.echo(
        f"valid {_day(first.valid_from, org.timezone)} to "
        f"{_day(first.valid_until - 1, org.timezone)} ({org.timezone})"
    )
    click.echo(
        f"wrote {out}: {sheet.pages} A4 sheet(s) of 10 cards, QR version <= {sheet.max_qr_version},"
        f" module {sheet.min_module_mm:.2f} mm"
    )
    click.echo("print at 100 % (actual size, not 'fit to page'), then cut along the marks")


@badge.command()
@org_option
@click.argument("employee")
@click.option(
    "--employees",
    "employees_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV to find EMPLOYEE's name and unit in (default: the org's employees.csv).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The PDF with the new card.",
)
@click.option(
    "--reason",
    default="replacement",
    show_default=True,
    help="Why: lost, damaged, name changed, ... (recorded with the new badge).",
)
@_valid_days_option
def reissue(
    org_dir: Path,
    employee: str,
    employees_file: Path | None,
    out: Path,
    reason: str,
    valid_days: int,
) -> None:
    """A new badge (new serial) for EMPLOYEE (their number); their old badges are revoked."""
    from presensi.provisioning import badges
    from presensi.provisioning.employees import load_employees, read_employees
    from presensi.provisioning.org import Org

    try:
        org = Org.open(org_dir)
        staff = load_employees(org) if employees_file is None else read_employees(employees_file)
        found = [e for e in staff if e.number == employee]
        if not found:
            source = employees_file or org.employees_path
            raise ProvisioningError(
                f"employee {employee!r} is not in {source}. Fix: check the number, or import "
                "the current list (`presensi provision employees import FILE`)"
            )
        with _staged(out) as tmp:
            render, _ = _print_pdf(tmp, org.name, org.timezone, "Drawing badge")
            result = badges.reissue(
                org, found[0], reason, valid_days=valid_days, before_commit=render
            )
    except (ProvisioningError, OSError, sqlite3.Error) as exc:
        _fail(exc)
    new = result.badge
    click.echo(
        f"issued badge {new.serial} to {new.employee} ({new.name}), valid "
        f"{_day(new.valid_from, org.timezone)} to {_day(new.valid_until - 1, org.timezone)}"
    )
    click.echo(f"wrote {out}: print at 100 % (actual size)")
    if result.list is None:
        click.echo("no earlier badge to revoke")
        return
    listed = result.list
    click.echo(
        f"revoked {_serial_ranges(result.replaced)} (reissued); revocation list version "
        f"{listed.revocations.version} ({len(listed.revocations.serials)} serials)"
    )
    click.echo(_next_step(listed.signed_path))


@badge.command()
@org_option
@click.option("--serial", type=click.IntRange(1, 2**32 - 1), default=None, help="A badge serial.")
@click.option("--employee", default=None, help="An employee number: revokes all their badges.")
@click.option("--reason", default="revoked", show_default=True, help="Why (lost, left, ...).")
def revoke(org_dir: Path, serial: int | None, employee: str | None, reason: str) -> None:
    """Revoke a badge (--serial) or an employee's badges (--employee)."""
    from presensi.provisioning import badges
    from presensi.provisioning.org import Org

    if (serial is None) == (employee is None):
        raise click.UsageError("give exactly one of --serial and --employee")
    target: int | str = serial if serial is not None else str(employee)
    try:
        result = badges.revoke(Org.open(org_dir), target, reason)
    except (ProvisioningError, OSError, sqlite3.Error) as exc:
        _fail(exc)
    listed = result.list
    click.echo(f"revoked {_serial_ranges(result.serials)} ({result.employee}): {reason}")
    click.echo(
        f"revocation list version {listed.revocations.version} "
        f"({len(listed.revocations.serials)} serials): {listed.signed_path}"
    )
    click.echo(_next_step(listed.signed_path))


def _parse_at(value: str | None, timezone: str) -> int:
    """--at: Unix seconds, or an ISO 8601 date or time (local time of `timezone` if it has no
    offset)."""
    if value is None:
        return int(time.time())
    if value.isdigit():
        return int(value)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give Unix seconds or an ISO 8601 time such as 2026-12-01T08:00",
            param_hint="--at",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return int(when.timestamp())


def _read_keys(path: Path) -> KeyRing:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("doc"), dict):
            data = data["doc"]  # org-keys.signed.json: the list inside
        return KeyRing.from_json(data)
    except (OSError, ValueError, ProtocolError) as exc:
        raise ProvisioningError(f"{path}: not a key list ({exc})") from exc


@badge.command()
@click.argument("token")
@org_option
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify with this key list (org-keys.json) instead of the org folder's keys.",
)
@click.option(
    "--revocations",
    "revocations_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A revocation list (revocations.json, or the signed one, checked with the keys); "
    "default: the org's.",
)
@click.option(
    "--at",
    default=None,
    metavar="TIME",
    help="Verify as at this time (Unix seconds or ISO 8601, Asia/Jakarta if no offset).",
)
@click.pass_context
def verify(
    ctx: click.Context,
    token: str,
    org_dir: Path,
    keys_file: Path | None,
    revocations_file: Path | None,
    at: str | None,
) -> None:
    """Decode TOKEN (the QR text; '-' reads it from stdin) and verify it as a station would.

    Exit status: 0 accepted, 1 rejected, 2 usage error."""
    org_source = ctx.get_parameter_source("org_dir")
    if keys_file is not None and org_source is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("give --org or --keys, not both")
    text = sys.stdin.read().strip() if token == "-" else token.strip()  # noqa: S105
    now = _parse_at(at, DISPLAY_TZ)
    try:
        org, ring, revoked, revocations_note = _trust(org_dir, keys_file, revocations_file)
        registry = _registry_line(org, text)
    except (ProvisioningError, OSError, sqlite3.Error) as exc:
        _fail(exc)

    verdict = badge_token.verify(text, ring, revoked, now)
    rows = _token_rows(text, verdict, ring)
    if registry:
        rows.append(("registry", registry))
    rows += [
        ("checked at", _when(now)),
        ("revocations", revocations_note),
        ("verdict", f"{'accepted' if verdict.ok else 'rejected'} ({verdict.reason})"),
        ("meaning", EXPLAIN.get(verdict.reason, str(verdict.reason))),
    ]
    for name, value in rows:
        click.echo(f"{name:<12} {value}")
    sys.exit(EXIT_OK if verdict.ok else EXIT_REJECTED)


def _trust(
    org_dir: Path, keys_file: Path | None, revocations_file: Path | None
) -> tuple[Org | None, KeyRing, Revocations, str]:
    """The org (None with --keys), the key ring, the revocation list and a note on the list."""
    from presensi.provisioning.badges import load_revocations
    from presensi.provisioning.org import Org

    org = None
    if keys_file is not None:
        ring = _read_keys(keys_file)
    else:
        org = Org.open(org_dir)
        ring = org.key_ring()
    if revocations_file is not None:
        revoked = load_revocations(revocations_file, ring)
        return org, ring, revoked, f"version {revoked.version}, {len(revoked.serials)} serials"
    if org is not None:
        revoked = org.revocations()
        note = f"version {revoked.version}, {len(revoked.serials)} serials (org)"
        return org, ring, revoked, note
    return org, ring, Revocations(), "none given: not checked"


def _token_rows(text: str, verdict: badge_token.Verdict, ring: KeyRing) -> list[tuple[str, str]]:
    """The decoded fields (or why the text does not decode)."""
    parsed = verdict.token
    if parsed is None:
        try:
            parsed = badge_token.parse(text)
        except ProtocolError as exc:
            return [("decoded", f"no: {exc}")]
    known = "trusted" if ring.get(parsed.key_id) is not None else "not in the key list"
    rows = [
        ("employee", parsed.employee),
        ("serial", str(parsed.serial)),
        ("key id", f"{parsed.key_id.hex()} ({known})"),
        ("valid from", _when(parsed.valid_from)),
        ("valid until", f"{_when(parsed.valid_until)} (exclusive)"),
    ]
    if verdict.reason in (Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE):
        rows.append(("warning", "the signature is not verified: these fields may be forged"))
    return rows


def _registry_line(org: Org | None, text: str) -> str:
    """What the org's registry says about the token's serial ('' without an org)."""
    if org is None:
        return ""
    from presensi.provisioning.badges import Registry

    try:
        serial = badge_token.parse(text).serial
    except ProtocolError:
        return ""
    if not org.badges_db.exists():
        return "no badges.db in the org folder"
    try:
        with Registry.of(org) as registry:
            record = registry.get(serial)
    except sqlite3.Error as exc:
        return f"{org.badges_db} not readable ({exc})"
    if record is None:
        return f"serial {serial} was never issued by this org"
    line = f"issued {_when(record.issued_ms / 1000)} to {record.employee}"
    if record.revoked_ms is not None:
        line += f"; revoked {_when(record.revoked_ms / 1000)} ({record.revoke_reason})"
    if record.replaced_by is not None:
        line += f"; replaced by {record.replaced_by}"
    return line
