"""The console's event pages: Acara (the events of a fortnight with how many came), one event
(who came, per unit: hadir, terlambat, izin, belum/tidak hadir; izin given here; the daftar hadir
as CSV, XLSX or PDF), and the live board for a projector or TV at the venue ("Hadir x / y", per
unit, the latest arrivals, or the "belum hadir" list of a unit), which follows the hub's commits
over Server-Sent Events (board.js swaps in the fragment the server rendered; without JavaScript
the page reloads itself every 5 s).

A unit head (a viewer given units) sees his units' people only on the event page; the board is
the venue's screen and shows everyone, as the hall sees it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from presensi.hub.console import i18n
from presensi.hub.console.core import Console, now_ms, page
from presensi.hub.console.data import User
from presensi.hub.console.pages import EMPLOYEE_NUMBER
from presensi.hub.events import export
from presensi.hub.events.model import ANY_EVENT_ID, KINDS, EventError, Plan
from presensi.hub.events.results import Board

EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
REFRESH_S = 5.0  # a board also refreshes this often (a late delivery, an izin, the clock)
UNIT_MAX = 100


@page("view")
async def events(console: Console, request: Request, user: User) -> Response:
    raw = request.query_params.get("dari")
    today = console.clock.local(now_ms()).date()
    try:
        first = dt.date.fromisoformat(raw) if raw else today - dt.timedelta(days=1)
        if not 2000 <= first.year <= 2100:
            raise ValueError(raw)
    except ValueError:
        return console.error(request, 400, "error.bad_request", user=user, detail=(raw or "")[:40])
    low = int(dt.datetime.combine(first, dt.time(), console.clock.zone).timestamp() * 1000)
    found = await run_in_threadpool(console.data.events_between, low, low + 15 * 86_400_000)
    context = {
        "rows": found,
        "first": first,
        "previous": first - dt.timedelta(days=14),
        "next": first + dt.timedelta(days=14),
        "now": now_ms(),
    }
    return console.render(request, "events.html", context, user=user)


async def _board(console: Console, request: Request) -> Board | None:
    event_id = request.path_params["event_id"]
    if not ANY_EVENT_ID.fullmatch(event_id):
        return None
    return await run_in_threadpool(console.data.event_board, event_id, now_ms())


@page("view")
async def event(console: Console, request: Request, user: User) -> Response:
    board = await _board(console, request)
    if board is None:
        return console.error(request, 404, "error.not_found", user=user)
    unit = request.query_params.get("unit") or None
    if unit is not None and len(unit) > UNIT_MAX:
        return console.error(request, 400, "error.bad_request", user=user, detail=unit[:40])
    if user.units:  # a unit head: his units only
        unit = unit if unit in user.units else None
    fmt = request.query_params.get("format")
    if fmt in EXPORTS:
        body = export.daftar_hadir(board, fmt, unit)
        if user.units and unit is None:  # every unit of his, one list each: the first
            body = export.daftar_hadir(board, fmt, user.units[0])
        name = f"daftar-hadir-{board.event.id}"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
        return Response(body, media_type=EXPORTS[fmt], headers=headers)
    shown = [
        a
        for a in board.attendees
        if (a.expected or a.counted)
        and (unit is None or a.unit == unit)
        and (not user.units or a.unit in user.units)
    ]
    context = {
        "board": board,
        "event": board.event,
        "shown": shown,
        "unit": unit,
        "units": [u for u, _, _ in board.units if not user.units or u in user.units],
        "done": request.query_params.get("izin") == "1",
    }
    return console.render(request, "event.html", context, user=user)


@page("operate")
async def excuse(console: Console, request: Request, user: User) -> Response:
    form = await request.form()
    if not console.csrf_ok(request, str(form.get("csrf", ""))):
        return console.error(request, 403, "error.csrf", user=user)
    event_id = request.path_params["event_id"]
    employee = str(form.get("pegawai", "")).strip()
    reason = str(form.get("alasan", ""))
    if not ANY_EVENT_ID.fullmatch(event_id) or not EMPLOYEE_NUMBER.fullmatch(employee):
        return console.error(request, 400, "error.bad_request", user=user, detail=employee[:40])
    try:
        await run_in_threadpool(
            console.data.event_excuse, event_id, employee, reason, user.name, now_ms()
        )
    except EventError as exc:
        why = "; ".join(_problem_texts(console, request, exc))
        return console.error(request, 400, "error.excuse", user=user, detail=why)
    return RedirectResponse(f"/acara/{event_id}?izin=1", status_code=303)


@page("view")
async def board_page(console: Console, request: Request, user: User) -> Response:
    board = await _board(console, request)
    if board is None:
        return console.error(request, 404, "error.not_found", user=user)
    show, unit = _board_view(request)
    context = {"board": board, "event": board.event, "show": show, "unit": unit}
    return console.render(request, "board.html", context, user=user)


def _board_view(request: Request) -> tuple[str, str | None]:
    show = "belum" if request.query_params.get("tampil") == "belum" else "hadir"
    unit = request.query_params.get("unit") or None
    return show, (unit[:UNIT_MAX] if unit else None)


@page("view")
async def board_stream(console: Console, request: Request, user: User) -> Response:
    """The board's fragment, rendered again whenever the hub commits a scan at one of the
    event's stations, and every REFRESH_S seconds."""
    event_id = request.path_params["event_id"]
    first = await _board(console, request)
    if first is None:
        return console.error(request, 404, "error.not_found", user=user)
    stations = set(first.event.stations)
    show, unit = _board_view(request)

    async def fragment() -> str | None:
        board = await run_in_threadpool(
            console.boards.get,
            ("board", event_id),
            lambda: console.data.event_board(event_id, now_ms()),
        )
        if board is None:
            return None
        html = console.render_fragment(
            request,
            "_board.html",
            {"board": board, "event": board.event, "show": show, "unit": unit},
        )
        return "event: board\ndata: " + json.dumps({"html": html}) + "\n\n"

    async def stream() -> AsyncIterator[str]:
        async with console.feed.subscribe() as queue:
            yield "retry: 2000\n\n"
            loop = asyncio.get_running_loop()
            next_refresh = loop.time() + REFRESH_S
            while True:
                try:
                    batch = await asyncio.wait_for(
                        queue.get(), timeout=max(0.1, next_refresh - loop.time())
                    )
                except TimeoutError:
                    batch = None
                    due = True
                else:
                    if batch is None:
                        return  # dropped (too slow) or shutting down: the page reconnects
                    due = any(s.station in stations for s in batch.scans)
                if due or loop.time() >= next_refresh:
                    next_refresh = loop.time() + REFRESH_S
                    text = await fragment()
                    if text is None:
                        return
                    yield text

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


# -- a new event, from the console ---------------------------------------------------------------

FORM_FIELDS = (
    "id",
    "nama",
    "jenis",
    "tanggal",
    "mulai",
    "terlambat",
    "selesai",
    "tempat",
    "sampai",
)


def _problem_texts(console: Console, request: Request, exc: EventError) -> list[str]:
    """Each reason in the reader's language (the English message where one has no key)."""
    t = i18n.translator(console.language(request))
    texts = [
        t(f"event_problem.{key}", **fields)
        for key, fields in exc.problems
        if f"event_problem.{key}" in i18n.ID
    ]
    return texts or [str(exc)]


async def _form_page(
    console: Console,
    request: Request,
    user: User,
    values: dict[str, str],
    chosen: dict[str, list[str]],
    problems: list[str],
    status: int = 200,
) -> Response:
    stations = sorted(row.id for row in await run_in_threadpool(console.store.stations))
    units = await run_in_threadpool(console.data.units)
    context = {
        "values": values,
        "chosen": chosen,
        "problems": problems,
        "stations": stations,
        "units": units,
        "kinds": KINDS,
    }
    return console.render(request, "event_new.html", context, status=status, user=user)


@page("operate")
async def new_event(console: Console, request: Request, user: User) -> Response:
    today = console.clock.local(now_ms()).date() + dt.timedelta(days=1)
    values = {
        "id": "", "nama": "", "jenis": "apel", "tanggal": today.isoformat(), "mulai": "07:00",
        "terlambat": "07:30", "selesai": "08:00", "tempat": "", "sampai": "",
    }  # fmt: skip
    return await _form_page(console, request, user, values, {"stasiun": [], "unit": []}, [])


@page("operate")
async def add_event(console: Console, request: Request, user: User) -> Response:
    raw = await request.form()
    if not console.csrf_ok(request, raw.get("csrf")):
        return console.error(request, 403, "error.csrf", user=user)
    values = {k: str(raw.get(k, ""))[:200].strip() for k in FORM_FIELDS}
    chosen = {k: [str(v)[:100] for v in raw.getlist(k)][:500] for k in ("stasiun", "unit")}
    walk_ins = raw.get("walkin") == "1"
    t = i18n.translator(console.language(request))
    try:
        day = dt.date.fromisoformat(values["tanggal"])
        until = dt.date.fromisoformat(values["sampai"]) if values["sampai"] else None
        times = [dt.time.fromisoformat(values[k]) for k in ("mulai", "terlambat", "selesai")]
        if any(len(values[k]) != 5 for k in ("mulai", "terlambat", "selesai")):
            raise ValueError("HH:MM")
    except ValueError:
        problem = t("event_problem.when")
        return await _form_page(console, request, user, values, chosen, [problem], 400)
    plan = Plan(
        values["id"], values["nama"], values["jenis"], day, times[0], times[1], times[2],
        values["tempat"], tuple(chosen["stasiun"]), tuple(chosen["unit"]), (), walk_ins,
        console.clock.zone.key, until,
    )  # fmt: skip
    try:
        made = await run_in_threadpool(console.data.event_add, plan, user.name, now_ms())
    except EventError as exc:
        problems = _problem_texts(console, request, exc)
        return await _form_page(console, request, user, values, chosen, problems, 400)
    return RedirectResponse(f"/acara/{made[0].id}", status_code=303)
