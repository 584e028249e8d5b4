"""The console's attendance pages: Kehadiran (one day: the exceptions, or everyone) and Rekap
(a month per person, as a page, CSV or XLSX). A unit head sees his units only."""

from __future__ import annotations

import datetime as dt
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from presensi.hub.attendance import export
from presensi.hub.attendance.corrections import CorrectionError, Decision
from presensi.hub.console import i18n, params
from presensi.hub.console.core import Console, now_ms, page
from presensi.hub.console.data import User
from presensi.hub.console.pages import EMPLOYEE_NUMBER

UNIT_MAX = 100
EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _unit(request: Request) -> str | None:
    unit = request.query_params.get("unit") or None
    if unit is not None and len(unit) > UNIT_MAX:
        raise ValueError("unit")
    return unit


def _today(console: Console) -> dt.date:
    return console.clock.local(now_ms()).date()


def _within(day: dt.date) -> dt.date | None:
    """`day` if a page may link to it (the previous/next arrows stop at the bounds)."""
    return day if params.FIRST_DAY <= day <= params.LAST_DAY else None


def _refused(console: Console, request: Request, user: User, exc: ValueError) -> Response:
    """A bad date or month says what would do; another bad parameter is named."""
    if isinstance(exc, params.BadDate):
        fields = {"value": exc.value, **params.fields()}
        return console.error(request, 400, exc.key, user=user, **fields)
    return console.error(request, 400, "error.bad_param", user=user, name=str(exc))


def _correction_text(console: Console, request: Request, exc: CorrectionError) -> str:
    """The refusal in the reader's language (the English message for one without a key)."""
    key = f"correction.{exc.key}"
    if not exc.key or key not in i18n.ID:
        return str(exc)
    return i18n.translator(console.language(request))(key, **exc.fields)


@page("view")
async def day(console: Console, request: Request, user: User) -> Response:
    raw = request.query_params.get("tanggal")
    try:
        chosen = params.day(raw) if raw else _today(console)
        unit = _unit(request)
    except ValueError as exc:
        return _refused(console, request, user, exc)
    everyone = request.query_params.get("semua") == "1"
    rules, lines, complete = await run_in_threadpool(
        console.data.attendance_day, chosen, user.units, unit, now_ms()
    )
    shown = lines if everyone else [line for line in lines if line.exception]
    fmt = request.query_params.get("format")
    if fmt in EXPORTS:
        table = export.daily_table(shown, console.clock.zone.key)
        name = f"kehadiran-{chosen.isoformat()}"
        return _download(table, fmt, name, "Kehadiran")
    units = await run_in_threadpool(console.data.units)
    pending = await run_in_threadpool(console.data.attendance_pending)
    scope = {line.person.number for line in lines}  # a unit head: his people's only
    context = {
        "waiting": [c for c in pending if not user.units or c.employee in scope],
        "day": chosen,
        "previous": _within(chosen - dt.timedelta(days=1)),
        "next": _within(chosen + dt.timedelta(days=1)),
        "lines": shown,
        "total": len(lines),
        "present": sum(1 for line in lines if line.state == "hadir"),
        "absent": sum(1 for line in lines if line.state == "absen"),
        "provisional": sum(1 for line in lines if line.provisional),
        "everyone": everyone,
        "complete": sorted(complete.upto.items()),
        "units": [u for u in units if not user.units or u in user.units],
        "unit": unit,
        "rules": rules,
    }
    return console.render(request, "attendance_day.html", context, user=user)


@page("view")
async def recap(console: Console, request: Request, user: User) -> Response:
    raw = request.query_params.get("bulan")
    today = _today(console)
    try:
        unit = _unit(request)
        first = params.month(raw) if raw else today.replace(day=1)
    except ValueError as exc:
        return _refused(console, request, user, exc)
    after = params.month_after(first)
    last = min(after - dt.timedelta(days=1), today)
    rules, lines = await run_in_threadpool(
        console.data.attendance_recap, first, max(first, last), user.units, unit, now_ms()
    )
    fmt = request.query_params.get("format")
    if fmt in EXPORTS:
        name = f"rekap-{first:%Y-%m}" + (f"-{_slug(unit)}" if unit else "")
        return _download(
            export.recap_table(lines, rules),
            fmt,
            name,
            f"Rekap kehadiran {first:%Y-%m}",
            f"{unit or 'Semua unit'} · s/d {last.isoformat()} · {len(lines)} pegawai",
            console.clock.zone.key,
        )
    units = await run_in_threadpool(console.data.units)
    context = {
        "month": first,
        "previous": _within((first - dt.timedelta(days=1)).replace(day=1)),
        "next": _within(after),
        "upto": last,
        "lines": lines,
        "codes": list(rules.codes),
        "units": [u for u in units if not user.units or u in user.units],
        "unit": unit,
    }
    return console.render(request, "attendance_recap.html", context, user=user)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "unit"


def _download(
    table: export.Table, fmt: str, name: str, sheet: str, subtitle: str = "", zone: str = ""
) -> Response:
    if fmt == "pdf":
        body = export.to_pdf(table, sheet, subtitle, zone or "Asia/Jakarta")
    else:
        body = export.to_csv(table) if fmt == "csv" else export.to_xlsx(table, sheet)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(body, media_type=EXPORTS[fmt], headers=headers)


# -- corrections ---------------------------------------------------------------------------------


def _person_day(request: Request, form: dict[str, str] | None = None) -> tuple[str, dt.date]:
    source = form if form is not None else request.query_params
    number = str(source.get("pegawai", ""))
    if not EMPLOYEE_NUMBER.fullmatch(number):
        raise ValueError("pegawai")
    return number, params.day(str(source.get("tanggal", "")))


@page("view")
async def correction(console: Console, request: Request, user: User) -> Response:
    try:
        number, chosen = _person_day(request)
    except ValueError as exc:
        return _refused(console, request, user, exc)
    return await _correction_page(console, request, user, number, chosen, None)


async def _correction_page(
    console: Console,
    request: Request,
    user: User,
    number: str,
    chosen: dt.date,
    problem: str | None,
    status: int = 200,
) -> Response:
    rules, line, made = await run_in_threadpool(
        console.data.attendance_correction_page, number, chosen, now_ms()
    )
    if line is None or (user.units and line.person.unit not in user.units):
        return console.error(request, 404, "error.not_found", user=user)
    context = {
        "line": line,
        "day": chosen,
        "made": made,
        "codes": list(rules.codes.values()),
        "problem": problem,
        "notice": request.query_params.get("ok"),
        "approval": rules.corrections_need_approval,
    }
    return console.render(request, "attendance_correction.html", context, user=user, status=status)


@page("operate")
async def correct(console: Console, request: Request, user: User) -> Response:
    raw = await request.form()
    if not console.csrf_ok(request, raw.get("csrf")):
        return console.error(request, 403, "error.csrf", user=user)
    form = {k: str(v) for k, v in raw.items()}
    try:
        number, chosen = _person_day(request, form)
    except ValueError as exc:
        return _refused(console, request, user, exc)
    try:
        made = await run_in_threadpool(
            lambda: console.data.attendance_correct(
                employee=number,
                day=chosen,
                by=user.name,
                reason=form.get("alasan", ""),
                code=form.get("kode") or None,
                check_in=form.get("masuk") or None,
                check_out=form.get("pulang") or None,
                attachment=form.get("lampiran", ""),
                now_ms=now_ms(),
            )
        )
    except CorrectionError as exc:
        problem = _correction_text(console, request, exc)
        return await _correction_page(console, request, user, number, chosen, problem, 400)
    return RedirectResponse(
        f"/kehadiran/koreksi?pegawai={number}&tanggal={chosen.isoformat()}&ok={made.id}",
        status_code=303,
    )


DECISIONS: dict[str, Decision] = {"setujui": "approved", "tolak": "refused"}


@page("operate")
async def decide(console: Console, request: Request, user: User) -> Response:
    raw = await request.form()
    if not console.csrf_ok(request, raw.get("csrf")):
        return console.error(request, 403, "error.csrf", user=user)
    ident, verb = request.path_params["correction_id"], request.path_params["decision"]
    if not ident.isdigit() or len(ident) > 18 or verb not in DECISIONS:
        return console.error(request, 400, "error.bad_request", user=user)
    try:
        done = await run_in_threadpool(
            console.data.attendance_decide, int(ident), DECISIONS[verb], user.name, now_ms()
        )
    except CorrectionError as exc:
        detail = _correction_text(console, request, exc)
        return console.error(request, 409, "error.correction", user=user, detail=detail)
    return RedirectResponse(
        f"/kehadiran/koreksi?pegawai={done.employee}&tanggal={done.work_date}&ok={done.id}",
        status_code=303,
    )
