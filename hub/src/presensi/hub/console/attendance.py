"""The console's attendance pages: Kehadiran (one day: the exceptions, or everyone) and Rekap
(a month per person, as a page, CSV or XLSX). A unit head sees his units only."""

from __future__ import annotations

import datetime as dt
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from presensi.hub.attendance import export
from presensi.hub.console.core import Console, now_ms, page
from presensi.hub.console.data import User

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
UNIT_MAX = 100
EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _unit(request: Request) -> str | None:
    unit = request.query_params.get("unit") or None
    if unit is not None and len(unit) > UNIT_MAX:
        raise ValueError("unit")
    return unit


def _today(console: Console) -> dt.date:
    return console.clock.local(now_ms()).date()


@page("view")
async def day(console: Console, request: Request, user: User) -> Response:
    raw = request.query_params.get("tanggal")
    try:
        chosen = dt.date.fromisoformat(raw) if raw else _today(console)
        unit = _unit(request)
    except ValueError:
        return console.error(request, 400, "error.bad_request", user=user, detail=(raw or "")[:40])
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
    context = {
        "day": chosen,
        "previous": chosen - dt.timedelta(days=1),
        "next": chosen + dt.timedelta(days=1),
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
        if raw:
            found = MONTH.fullmatch(raw)
            if not found:
                raise ValueError(raw)
            first = dt.date(int(found.group(1)), int(found.group(2)), 1)
        else:
            first = today.replace(day=1)
    except ValueError:
        return console.error(request, 400, "error.bad_request", user=user, detail=(raw or "")[:40])
    after = (first + dt.timedelta(days=32)).replace(day=1)
    last = min(after - dt.timedelta(days=1), today)
    rules, lines = await run_in_threadpool(
        console.data.attendance_recap, first, max(first, last), user.units, unit, now_ms()
    )
    fmt = request.query_params.get("format")
    if fmt in EXPORTS:
        name = f"rekap-{first:%Y-%m}" + (f"-{_slug(unit)}" if unit else "")
        return _download(export.recap_table(lines, rules), fmt, name, f"Rekap {first:%Y-%m}")
    units = await run_in_threadpool(console.data.units)
    context = {
        "month": first,
        "previous": (first - dt.timedelta(days=1)).replace(day=1),
        "next": after,
        "upto": last,
        "lines": lines,
        "codes": list(rules.codes),
        "units": [u for u in units if not user.units or u in user.units],
        "unit": unit,
    }
    return console.render(request, "attendance_recap.html", context, user=user)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "unit"


def _download(table: export.Table, fmt: str, name: str, sheet: str) -> Response:
    body = export.to_csv(table) if fmt == "csv" else export.to_xlsx(table, sheet)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(body, media_type=EXPORTS[fmt], headers=headers)
