"""`presensi hub event ...`: plan events (one, or a weekly series), list them, see who came,
excuse someone (izin), move a window, cancel a date, and write the attendance list ("daftar
hadir") as CSV, XLSX or a printable PDF. The console shows the same (docs/events.md)."""

from __future__ import annotations

import datetime as dt
import getpass
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from presensi.protocol.cli import fail as _fail

F = TypeVar("F", bound=Callable[..., Any])


def _store_option() -> Callable[[F], F]:
    from presensi.hub.cli import store_option  # (hub.cli adds this group: imported late)

    return store_option


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


def _time(value: str | None) -> dt.time | None:
    if value is None:
        return None
    try:
        return dt.time.fromisoformat(value) if len(value) == 5 else dt.time.fromisoformat("x")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time HH:MM") from None


def _run(store_url: str, what: Any) -> Any:
    from presensi.hub.attendance.cli import _with_store
    from presensi.hub.events.model import EventError

    try:
        return _with_store(store_url, what)
    except EventError as exc:
        _fail(f"refused, nothing changed: {exc}")


def _who() -> str:
    return f"cli:{getpass.getuser()}"


@click.group()
def event() -> None:
    """Events (apel, upacara, rapat, pelatihan): plan, list, who came, izin, daftar hadir."""


@event.command("add")
@_store_option()
@click.argument("event_id")
@click.option("--name", required=True, help='What people call it: "Apel pagi Senin".')
@click.option(
    "--kind", required=True, type=click.Choice(["apel", "upacara", "rapat", "pelatihan", "lainnya"])
)
@click.option("--date", "day", required=True, help="YYYY-MM-DD (the first, for a series).")
@click.option("--from", "start", required=True, help="Scans count from HH:MM ...")
@click.option("--late", required=True, help="... arriving after HH:MM is late ...")
@click.option("--to", "end", required=True, help="... up to HH:MM.")
@click.option("--venue", required=True, help="An attendance point's id, or a place's name.")
@click.option("--station", "stations", multiple=True, help="A station that takes the scans.")
@click.option("--unit", "units", multiple=True, help="A whole unit (OPD) expected.")
@click.option("--participants", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A list of employee numbers expected (one a line).")  # fmt: skip
@click.option("--walk-ins/--no-walk-ins", default=True, show_default=True,
              help="Count people not expected who come.")  # fmt: skip
@click.option("--weekly-until", default=None, help="Repeat every week up to YYYY-MM-DD.")
@click.option("--timezone", default="Asia/Jakarta", show_default=True)
def add(
    store_url: str,
    event_id: str,
    name: str,
    kind: str,
    day: str,
    start: str,
    late: str,
    end: str,
    venue: str,
    stations: tuple[str, ...],
    units: tuple[str, ...],
    participants: Path | None,
    walk_ins: bool,
    weekly_until: str | None,
    timezone: str,
) -> None:
    """Plan EVENT_ID (or a weekly series of them: EVENT_ID-YYYY-MM-DD each). With neither
    --unit nor --participants it is open: whoever comes is counted."""
    from presensi.hub.events import model

    times = [_time(t) for t in (start, late, end)]

    def run(store: Any) -> tuple[list[Any], list[str]]:
        db = store.database
        listed: list[str] = []
        unknown: list[str] = []
        if participants is not None:
            known = {str(r[0]) for r in db.execute("SELECT number FROM employees")}
            listed, unknown = model.parse_participants(participants.read_bytes(), known)
        plan = model.Plan(
            event_id, name, kind, _date(day), times[0], times[1], times[2], venue,  # type: ignore[arg-type]
            stations, units, tuple(listed), walk_ins, timezone,
            None if weekly_until is None else _date(weekly_until),
        )  # fmt: skip
        made = model.plan_events(db, plan)
        model.add_events(db, made, _who(), time.time_ns() // 10**6)
        return made, unknown

    made, unknown = _run(store_url, run)
    for e in made:
        click.echo(
            f"{e.id}: {e.name} {e.local(e.starts_ms):%Y-%m-%d %H:%M}-{e.local(e.ends_ms):%H:%M}"
        )
    if unknown:
        click.echo(
            f"not in the hub's employees, left out ({len(unknown)}): {', '.join(unknown[:50])}"
            + (" ..." if len(unknown) > 50 else ""),
            err=True,
        )


@event.command("list")
@_store_option()
@click.option("--from", "first", default=None, help="From YYYY-MM-DD (default: today).")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
def list_(store_url: str, first: str | None, days: int) -> None:
    """Events from a date on, with how many came."""
    from presensi.hub.events import model, results

    start = _date(first) if first else dt.date.today()
    low = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp() * 1000) - 86_400_000
    high = low + (days + 2) * 86_400_000
    now = time.time_ns() // 10**6

    def run(store: Any) -> list[tuple[Any, Any]]:
        db = store.database
        return [
            (e, None if e.cancelled else results.board(db, e, now))
            for e in model.between(db, low, high)
        ]

    for e, board in _run(store_url, run):
        state = "dibatalkan" if board is None else f"hadir {board.present} / {board.expected}"
        click.echo(f"{e.id}  {e.local(e.starts_ms):%Y-%m-%d %H:%M}  {e.kind:9} {e.name}  ({state})")


@event.command("cancel")
@_store_option()
@click.argument("event_id")
def cancel(store_url: str, event_id: str) -> None:
    """Cancel one event (one date of a series); its stations are free again."""
    from presensi.hub.events import model

    done = _run(
        store_url, lambda s: model.cancel(s.database, event_id, _who(), time.time_ns() // 10**6)
    )
    click.echo(f"{done.id} cancelled")


@event.command("window")
@_store_option()
@click.argument("event_id")
@click.option("--from", "start", default=None, help="HH:MM")
@click.option("--late", default=None, help="HH:MM")
@click.option("--to", "end", default=None, help="HH:MM")
def window(
    store_url: str, event_id: str, start: str | None, late: str | None, end: str | None
) -> None:
    """Move an event's window (even after it started: the statuses follow; audited)."""
    from presensi.hub.events import model

    def run(store: Any) -> Any:
        return model.change_window(
            store.database, event_id, start=_time(start), late=_time(late), end=_time(end),
            by=_who(), now_ms=time.time_ns() // 10**6,
        )  # fmt: skip

    moved = _run(store_url, run)
    click.echo(
        f"{moved.id}: {moved.local(moved.starts_ms):%H:%M}, late after "
        f"{moved.local(moved.late_ms):%H:%M}, to {moved.local(moved.ends_ms):%H:%M}"
    )


@event.command("excuse")
@_store_option()
@click.argument("event_id")
@click.argument("employee")
@click.option("--reason", required=True, help="Why (kept in the trail and the list).")
def excuse(store_url: str, event_id: str, employee: str, reason: str) -> None:
    """Izin: EMPLOYEE is excused from EVENT_ID."""
    from presensi.hub.events import model

    _run(
        store_url,
        lambda s: model.excuse(
            s.database, event_id, employee, reason, _who(), time.time_ns() // 10**6
        ),
    )
    click.echo(f"{employee}: izin for {event_id}")


@event.command("result")
@_store_option()
@click.argument("event_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="daftar-hadir.xlsx, .csv or .pdf")  # fmt: skip
@click.option("--unit", default=None, help="One unit only.")
def result(store_url: str, event_id: str, out: Path, unit: str | None) -> None:
    """Write EVENT_ID's attendance list (daftar hadir) per unit."""
    from presensi.hub.events import export, model, results

    if out.suffix not in (".xlsx", ".csv", ".pdf"):
        raise click.BadParameter("--out must end in .xlsx, .csv or .pdf")

    def run(store: Any) -> bytes:
        db = store.database
        found = model.get(db, event_id)
        if found is None:
            raise model.EventError(f"no event {event_id!r}")
        board = results.board(db, found, time.time_ns() // 10**6)
        return export.daftar_hadir(board, out.suffix[1:], unit)

    out.write_bytes(_run(store_url, run))
    click.echo(f"wrote {out}")


def _broker_options() -> Callable[[F], F]:
    from presensi.hub.cli import with_broker  # (hub.cli adds this group: imported late)

    return with_broker


@event.command("publish")
@_store_option()
@_broker_options()
def publish(
    store_url: str,
    broker: str,
    username: str,
    password_file: str | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
) -> None:
    """Retain on every station's event topic the event it serves now or next (an empty
    message where none). `presensi hub run` does this by itself every 30 s; this is for a
    hub that is not running, or to check the broker takes them."""
    from presensi.hub.cli import publish_or_fail
    from presensi.hub.events import sheets

    messages = _run(store_url, lambda s: sheets.Publisher().changes(s.database))
    publish_or_fail(messages, broker, username, password_file, ca_file, cert_file, key_file)
    with_event = sum(1 for _, payload in messages if payload)
    without = len(messages) - with_event
    click.echo(f"event sheets published: {with_event} stations with an event, {without} without")
