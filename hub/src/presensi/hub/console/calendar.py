"""An employee's month as a calendar (`/pegawai/{number}/kehadiran?bulan=YYYY-MM`): a week per
row, each day with its state, codes and punch times, provisional and manual days marked. A unit
head sees his units' people only (another's is "not found", as on the employee page)."""

from __future__ import annotations

import calendar as cal
import datetime as dt
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from presensi.hub.attendance.reports import Person
from presensi.hub.console.core import Console, now_ms, page
from presensi.hub.console.data import User
from presensi.hub.console.pages import EMPLOYEE_NUMBER

MONTH = re.compile(r"(20\d\d)-(0[1-9]|1[0-2])")  # the years attendance can have


@page("view")
async def month(console: Console, request: Request, user: User) -> Response:
    number = request.path_params["number"]
    raw = request.query_params.get("bulan")
    today = console.clock.local(now_ms()).date()
    found = MONTH.fullmatch(raw) if raw else None
    if not EMPLOYEE_NUMBER.fullmatch(number) or (raw and not found):
        detail = (number if not EMPLOYEE_NUMBER.fullmatch(number) else raw or "")[:40]
        return console.error(request, 400, "error.bad_request", user=user, detail=detail)
    first = dt.date(int(found.group(1)), int(found.group(2)), 1) if found else today.replace(day=1)
    who = await run_in_threadpool(console.data.person, number)
    if who is None or (user.units and who.unit not in user.units):
        return console.error(request, 404, "error.not_found", user=user)  # not 403: no hint
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    person = Person(who.number, who.name, who.unit, who.shift_group)
    rules, lines = await run_in_threadpool(
        console.data.attendance_month, person, first, last, now_ms()
    )
    by_day = {line.work_date: line for line in lines}
    weeks = [
        [by_day.get(day) if day.month == first.month else None for day in week]
        for week in cal.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    ]
    counted = [line for line in lines if line.state in ("hadir", "absen")]
    context = {
        "who": who,
        "month": first,
        "previous": (first - dt.timedelta(days=1)).replace(day=1),
        "next": last + dt.timedelta(days=1),
        "weeks": weeks,
        "today": today,
        "work_days": len(counted),
        "deduction": round(sum(line.deduction for line in counted), 2),
        "provisional": sum(1 for line in counted if line.provisional),
        "codes": {c.code: c.name for c in rules.codes.values()},
    }
    return console.render(request, "attendance_month.html", context, user=user)
