"""`presensi hub attendance ...`: the rules in force, a recompute after a rule change, a day's
exceptions and a month's recap from the command line (the console shows the same)."""

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


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@click.group()
def attendance() -> None:
    """Attendance: rules, recompute, a day's exceptions, the monthly recap."""


@attendance.group()
def rules() -> None:
    """The attendance rules (a TOML file; docs/attendance.md)."""


@rules.command("default")
def rules_default() -> None:
    """Print the default rules: a file to start from."""
    from presensi.hub.attendance.rules import DEFAULT_RULES

    click.echo(DEFAULT_RULES, nl=False)


@rules.command("check")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def rules_check(file: Path) -> None:
    """Check a rules file without loading it: every problem with its line."""
    from presensi.hub.attendance.rules import RulesError, parse_rules

    try:
        parsed = parse_rules(file.read_text(encoding="utf-8"))
    except RulesError as exc:
        _fail(f"{file}: refused, nothing changed:\n{exc}")
    click.echo(f"{file}: ok ({len(parsed.shifts)} shifts, {len(parsed.groups)} groups)")


def _with_store(store_url: str, what: Any) -> Any:
    from presensi.hub.errors import StoreError
    from presensi.hub.store import SqlStore, open_store

    try:
        store = open_store(store_url)
        try:
            store.migrate()
            assert isinstance(store, SqlStore)
            return what(store)
        finally:
            store.close()
    except StoreError as exc:
        _fail(exc)


@rules.command("load")
@_store_option()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def rules_load(store_url: str, file: Path) -> None:
    """Make FILE the rules in force (checked whole first). Days already derived keep their
    results until `presensi hub attendance recompute`."""
    from presensi.hub.attendance.days import load_rules
    from presensi.hub.attendance.rules import RulesError

    text = file.read_text(encoding="utf-8")

    def load(store: Any) -> int:
        return load_rules(store.database, text, getpass.getuser(), time.time_ns() // 10**6)

    try:
        version = _with_store(store_url, load)
    except RulesError as exc:
        _fail(f"{file}: refused, nothing changed:\n{exc}")
    click.echo(f"rules version {version} in force; recompute past days with "
               "`presensi hub attendance recompute --from YYYY-MM-DD --to YYYY-MM-DD`")  # fmt: skip


@attendance.command()
@_store_option()
@click.option("--from", "first", required=True, help="First work day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last work day, YYYY-MM-DD.")
def recompute(store_url: str, first: str, last: str) -> None:
    """Derive the work days from FROM to TO again, under the rules in force."""
    from presensi.hub.attendance.days import RulesInForce, derive_all, mark_range

    start, end = _day(first), _day(last)
    if end < start:
        raise click.BadParameter("--to is before --from")

    def run(store: Any) -> tuple[int, int]:
        marks = mark_range(store.database, start, end)
        return marks, derive_all(store.database, RulesInForce())

    marked, done = _with_store(store_url, run)
    click.echo(f"recomputed {start} to {end}: {marked} (employee, day) marks, {done} derived")


@attendance.command()
@_store_option()
@click.option(
    "--every",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between looks for new marks.",
)
def follow(store_url: str, every: float) -> None:
    """Derive attendance as the hub's ingest marks it, until stopped (SIGTERM or Ctrl-C): the
    worker of its own for hubs run with --no-derive (docs/operations.md)."""
    import logging
    import signal
    import threading

    from presensi.hub.errors import StoreError
    from presensi.hub.ingest import DERIVE_BATCH
    from presensi.hub.store import open_store

    if logging.getLogger().level > logging.INFO:  # a service: what journalctl readers need
        logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("presensi.hub.attendance.follow")
    try:
        store = open_store(store_url, existing=True)
    except StoreError as exc:
        _fail(exc)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"deriving attendance as it is marked in {store_url} (Ctrl-C stops)")
    derived = failures = 0
    try:
        while not stop.is_set():
            try:
                # (not waiting for another derivation's lock: it is looked at again `every`
                # seconds, and SIGTERM is not held up by a recompute's long transaction)
                while not stop.is_set() and (
                    done := store.derive_attendance(DERIVE_BATCH, wait=False)
                ):
                    derived += done
            except Exception as exc:  # noqa: BLE001 (the store down, or a bug: logged, retried)
                failures += 1
                log.error("attendance not derived now (%s); trying again", exc)
                stop.wait(min(30.0, every * 2 ** min(failures, 10)))
                continue
            failures = 0
            stop.wait(every)
    finally:
        store.close()
    click.echo(f"stopped: {derived} marks derived")


@attendance.command()
@_store_option()
@click.argument("month")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="rekap.xlsx, rekap.csv or rekap.pdf (printable)")  # fmt: skip
@click.option("--unit", default=None, help="One unit only.")
def recap(store_url: str, month: str, out: Path, unit: str | None) -> None:
    """Write MONTH's recap (YYYY-MM) per employee as XLSX, CSV or a printable PDF."""
    from presensi.hub.attendance import export, reports
    from presensi.hub.attendance.days import RulesInForce

    try:
        first = dt.date.fromisoformat(month + "-01")
    except ValueError:
        raise click.BadParameter(f"{month!r} is not a month YYYY-MM") from None
    if out.suffix not in (".xlsx", ".csv", ".pdf"):
        raise click.BadParameter("--out must end in .xlsx, .csv or .pdf")
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    now = time.time_ns() // 10**6

    def run(store: Any) -> bytes:
        db = store.database
        _, rules_now = RulesInForce().get(db)
        lines = reports.recap(db, rules_now, first, last, reports.people(db, unit=unit), now)
        table = export.recap_table(lines, rules_now)
        if out.suffix == ".pdf":
            subtitle = f"{unit or 'Semua unit'} · {first} s/d {last} · {len(lines)} pegawai"
            return export.to_pdf(table, f"Rekap kehadiran {month}", subtitle, rules_now.timezone)
        return (
            export.to_xlsx(table, f"Rekap {month}")
            if out.suffix == ".xlsx"
            else export.to_csv(table)
        )

    body = _with_store(store_url, run)
    out.write_bytes(body)
    click.echo(f"wrote {out}")


@attendance.command()
@_store_option()
@click.argument("employee")
@click.argument("work_date")
@click.option("--code", default=None, help="A status code of the rules: I, S, C, DL, H, ...")
@click.option("--in", "check_in", default=None, help="A missing check-in, HH:MM local.")
@click.option("--out", "check_out", default=None, help="A missing check-out, HH:MM local.")
@click.option("--reason", required=True, help="Why (shown in the trail and the exports).")
@click.option("--attachment", default="", help="The name of a supporting file.")
def correct(
    store_url: str,
    employee: str,
    work_date: str,
    code: str | None,
    check_in: str | None,
    check_out: str | None,
    reason: str,
    attachment: str,
) -> None:
    """Correct EMPLOYEE's WORK_DATE: a manual status or a missing time, with a reason. It
    applies once a second person approves it (`approve`), unless the rules say otherwise."""
    from presensi.hub.attendance.corrections import CorrectionError
    from presensi.hub.console.data import ConsoleData

    day = _day(work_date)

    def run(store: Any) -> Any:
        return ConsoleData(store.database).attendance_correct(
            employee=employee,
            day=day,
            by=f"cli:{getpass.getuser()}",
            reason=reason,
            code=code,
            check_in=check_in,
            check_out=check_out,
            attachment=attachment,
            now_ms=time.time_ns() // 10**6,
        )

    try:
        made = _with_store(store_url, run)
    except CorrectionError as exc:
        _fail(f"refused, nothing changed: {exc}")
    state = made.decision or "waiting for a second person's approval"
    click.echo(f"correction {made.id} for {employee} {day}: {state}")


def _decide(store_url: str, correction_id: int, decision: str) -> None:
    from presensi.hub.attendance.corrections import CorrectionError, decide

    def run(store: Any) -> Any:
        by = f"cli:{getpass.getuser()}"
        return decide(store.database, correction_id, decision, by, time.time_ns() // 10**6)  # type: ignore[arg-type]

    try:
        done = _with_store(store_url, run)
    except CorrectionError as exc:
        _fail(exc)
    click.echo(f"correction {done.id} ({done.employee} {done.work_date}): {done.decision}")


@attendance.command()
@_store_option()
@click.argument("correction_id", type=int)
def approve(store_url: str, correction_id: int) -> None:
    """Approve a correction someone else asked for."""
    _decide(store_url, correction_id, "approved")


@attendance.command()
@_store_option()
@click.argument("correction_id", type=int)
def refuse(store_url: str, correction_id: int) -> None:
    """Refuse a correction someone else asked for."""
    _decide(store_url, correction_id, "refused")


@attendance.command()
@_store_option()
@click.option("--from", "first", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="checkin.csv (or .xlsx)")  # fmt: skip
@click.option(
    "--timezone", "zone", default=None, help="The HR system's zone (default: the rules')."
)
def checkins(store_url: str, first: str, last: str, out: Path, zone: str | None) -> None:
    """Write the check-ins from FROM to TO (days in the zone) in the shape of Frappe HRMS's
    Employee Checkin (employee_field_value, timestamp, device_id, log_type)."""
    import zoneinfo

    from presensi.hub.attendance import export, reports
    from presensi.hub.attendance.days import RulesInForce

    start, end = _day(first), _day(last)
    if out.suffix not in (".xlsx", ".csv"):
        raise click.BadParameter("--out must end in .xlsx or .csv")

    def run(store: Any) -> bytes:
        db = store.database
        name = zone or RulesInForce().get(db)[1].timezone
        try:
            tz = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"unknown time zone {name!r}") from None
        low = int(dt.datetime.combine(start, dt.time(), tz).timestamp() * 1000)
        high = int(
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz).timestamp() * 1000
        )
        table = export.frappe_checkins(reports.checkins(db, low, high), name)
        return (
            export.to_xlsx(table, "Employee Checkin")
            if out.suffix == ".xlsx"
            else export.to_csv(table)
        )

    out.write_bytes(_with_store(store_url, run))
    click.echo(f"wrote {out}")


@attendance.group()
def roster() -> None:
    """Rosters of per-day shifts (rotating bus crews), from CSV: pegawai,tanggal,shift[,lokasi]."""


@roster.command("import")
@_store_option()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def roster_import(store_url: str, file: Path) -> None:
    """Check FILE whole against the rules in force, the employees and the attendance points,
    then store it: each line replaces that employee's day. Nothing is stored if a line is
    wrong."""
    from presensi.hub.attendance.days import RulesInForce, derive_all
    from presensi.hub.attendance.schedule import ScheduleError, import_roster, parse_roster

    data = file.read_bytes()

    def run(store: Any) -> tuple[int, int]:
        db = store.database
        _, rules_now = RulesInForce().get(db)
        employees = [str(r[0]) for r in db.execute("SELECT number FROM employees")]
        places = [str(r[0]) for r in db.execute("SELECT id FROM locations")]
        lines = parse_roster(data, rules_now, employees, places)
        count = import_roster(db, lines, f"cli:{getpass.getuser()}", time.time_ns() // 10**6)
        return count, derive_all(db, RulesInForce())

    try:
        count, derived = _with_store(store_url, run)
    except ScheduleError as exc:
        _fail(f"{file}: refused, nothing changed:\n{exc}")
    click.echo(f"{file}: {count} roster lines stored; {derived} (employee, day) marks derived")


@attendance.group()
def holidays() -> None:
    """Public holidays from a CSV file (tanggal,nama), beside the rules file's own."""


@holidays.command("import")
@_store_option()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def holidays_import(store_url: str, file: Path) -> None:
    """Make FILE's holidays the imported holidays of the years it covers (checked whole first);
    the days they change are derived again."""
    from presensi.hub.attendance.days import RulesInForce, derive_all
    from presensi.hub.attendance.schedule import ScheduleError, import_holidays, parse_holidays

    data = file.read_bytes()

    def run(store: Any) -> tuple[int, int, int]:
        db = store.database
        found = parse_holidays(data)
        added, removed = import_holidays(
            db, found, f"cli:{getpass.getuser()}", time.time_ns() // 10**6
        )
        return added, removed, derive_all(db, RulesInForce())

    try:
        added, removed, derived = _with_store(store_url, run)
    except ScheduleError as exc:
        _fail(f"{file}: refused, nothing changed:\n{exc}")
    click.echo(f"{file}: {added} holidays added or renamed, {removed} removed; {derived} derived")


@holidays.command("list")
@_store_option()
@click.option("--year", type=int, default=None, help="One year only.")
def holidays_list(store_url: str, year: int | None) -> None:
    """The holidays in force: the rules file's and the imported ones."""
    from presensi.hub.attendance.days import RulesInForce

    def run(store: Any) -> dict[dt.date, str]:
        return dict(RulesInForce().get(store.database)[1].holidays)

    for day, name in sorted(_with_store(store_url, run).items()):
        if year is None or day.year == year:
            click.echo(f"{day}  {name}")
