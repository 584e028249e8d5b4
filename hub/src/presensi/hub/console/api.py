"""The JSON API for integrations (payroll, a city's HR system): stations, scans paged by time,
place, person or station, rejects and alerts; token-authenticated, described by the OpenAPI
document at /api/v1/openapi.json. Times are Unix milliseconds (UTC).

Every error is `{"error": {"code", "message", "parameter"?}}` with a 4xx status; the codes are
stable: `unauthorized`, `forbidden`, `bad_parameter`, `not_found`, `store_unavailable`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from presensi.hub.console import accounts, params
from presensi.hub.console.core import Console, now_ms
from presensi.hub.console.data import ApiToken, ScanView
from presensi.hub.errors import StoreError
from presensi.hub.events.model import ANY_EVENT_ID
from presensi.hub.model import AlertRow

MAX_LIMIT = 1000
TOKEN_PREFIX = "prs_"  # noqa: S105 (a prefix, not a secret)
_IDENT = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_EMPLOYEE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_CURSOR = re.compile(
    r"(\d{1,16}):([a-z0-9][a-z0-9._-]{0,63}):([0-9a-f]{1,64}):(\d{1,4}):(\d{1,18})"
)
CHECKIN_SPAN_MS = 32 * 86_400_000
MAX_MS = 2**53  # times beyond JavaScript's safe integers are not times


class Station(msgspec.Struct, kw_only=True):
    id: str
    location: str
    state: str  # online, offline, stale, never
    last_seen_ms: int | None
    backlog: int | None
    clock_synced: bool | None
    journals: int
    version: str | None
    open_alerts: int


class Scan(msgspec.Struct, kw_only=True):
    station: str
    journal: str
    seq: int
    employee: str | None
    name: str | None
    outcome: str
    reason: str
    direction: str
    location: str
    time_ms: int  # when the scan was made (the hub's correction of an unsynced clock, if any)
    clock_synced: bool
    received_ms: int


class ScanPage(msgspec.Struct, kw_only=True):
    items: list[Scan]
    next: str | None  # pass as `after` for the next page; null: no more


class Reject(msgspec.Struct, kw_only=True):
    id: int
    received_ms: int
    topic: str
    station: str | None
    seq: int | None
    reason: str
    detail: str | None


class Alert(msgspec.Struct, kw_only=True):
    id: int
    raised_ms: int
    station: str
    kind: str
    subject: str
    detail: str  # plain English, times in UTC
    cleared_ms: int | None
    cleared_by: str | None
    # the evidence as data, the detail's source: the cheating signals' (who, which scans:
    # location, station, at_ms), the journals' alerts' (station, journal, seq, branch, whole
    # hashes); null for alerts raised before the hub kept it
    evidence: dict[str, Any] | None = None


class AttendanceDay(msgspec.Struct, kw_only=True):
    employee: str
    name: str
    unit: str
    date: str  # the work day, YYYY-MM-DD (a night shift: the day it starts)
    state: str  # hadir, absen, libur, berlangsung, sebelum
    shift: str | None
    check_in_ms: int | None
    check_out_ms: int | None
    late_min: int
    early_min: int
    codes: list[str]  # H, TL1..TL4, PSW1..PSW4, TK, I, S, C, DL (the rules' codes)
    deduction: float  # percent
    provisional: bool  # a station that may hold a scan has not delivered yet
    manual: bool  # a correction set it
    locations: list[str]


class RecapRow(msgspec.Struct, kw_only=True):
    employee: str
    name: str
    unit: str
    work_days: int
    counts: dict[str, int]  # days per code
    provisional_days: int
    deduction: float  # percent, the days summed


class CheckinRow(msgspec.Struct, kw_only=True):
    employee: str
    time_ms: int
    log_type: str  # IN or OUT
    station: str
    location: str


class EventRow(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str
    starts_ms: int
    late_ms: int
    ends_ms: int
    venue: str
    stations: list[str]
    cancelled: bool
    present: int | None  # "Hadir x / y" (None for a cancelled event)
    expected: int | None
    late: int | None
    excused: int | None


class AttendeeRow(msgspec.Struct, kw_only=True):
    employee: str
    name: str
    unit: str
    status: Literal["hadir", "terlambat", "izin", "belum", "tidak_hadir"]
    time_ms: int | None
    station: str | None
    expected: bool  # False: a walk-in
    counted: bool
    reason: str


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
    parameter: str | None = None


class Error(msgspec.Struct, kw_only=True):
    error: ErrorBody


_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = Error(error=ErrorBody(code=code, message=message, parameter=parameter))


def json_response(value: object, status: int = 200) -> Response:
    return Response(_encoder.encode(value), status, media_type="application/json")


def new_token() -> tuple[str, str]:
    """A new API token and the SHA-256 the store keeps of it (the token is shown once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


ApiHandler = Callable[[Console, Request, ApiToken], Awaitable[Response]]


def endpoint(handler: ApiHandler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        console: Console = request.app.state.console
        try:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
                raise ApiError(401, "unauthorized", "give Authorization: Bearer <token>")
            found = await run_in_threadpool(console.data.api_token, token_digest(token))
            if found is None:
                raise ApiError(401, "unauthorized", "unknown or revoked token")
            if not accounts.may(found.role, "view"):
                raise ApiError(403, "forbidden", "this token may not read")
            return await handler(console, request, found)
        except ApiError as exc:
            return json_response(exc.body, exc.status)
        except StoreError:
            body = Error(
                error=ErrorBody(code="store_unavailable", message="the store cannot be reached")
            )
            return json_response(body, 503)

    run.__name__ = handler.__name__
    return run


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 16 or not low <= int(raw) <= high:
        raise ApiError(400, "bad_parameter", f"{name}: an integer from {low} to {high}", name)
    return int(raw)


def _text_param(request: Request, name: str, pattern: re.Pattern[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not pattern.fullmatch(raw):
        raise ApiError(400, "bad_parameter", f"{name}: not a valid value", name)
    return raw


def _known(request: Request, names: set[str]) -> None:
    for name in request.query_params:
        if name not in names:
            raise ApiError(400, "bad_parameter", f"unknown parameter {name!r}", name)


def _scan(view: ScanView) -> Scan:
    return Scan(
        station=view.station,
        journal=view.journal,
        seq=view.seq,
        employee=view.employee,
        name=view.name,
        outcome=view.outcome,
        reason=view.reason,
        direction=view.direction,
        location=view.location,
        time_ms=view.shown_ms,
        clock_synced=view.clock_synced,
        received_ms=view.received_ms,
    )


@endpoint
async def stations(console: Console, request: Request, token: ApiToken) -> Response:
    from presensi.hub.console.pages import fleet_views

    _known(request, set())
    views = await fleet_views(console)
    return json_response(
        [
            Station(
                id=v.row.id,
                location=v.row.location,
                state=v.state,
                last_seen_ms=v.row.last_seen_ms,
                backlog=v.row.backlog,
                clock_synced=v.row.clock_synced,
                journals=v.row.journals,
                version=v.row.version,
                open_alerts=v.row.open_alerts,
            )
            for v in views
        ]
    )


@endpoint
async def scans(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, {"from_ms", "to_ms", "location", "employee", "station", "limit", "after"})
    from_ms = _int_param(request, "from_ms", 0, 0, MAX_MS) or 0
    to_ms = _int_param(request, "to_ms", MAX_MS, 0, MAX_MS) or MAX_MS
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT) or 100
    after_raw = request.query_params.get("after")
    after: tuple[int, str, str, int, int] | None = None
    if after_raw is not None:
        match = _CURSOR.fullmatch(after_raw)
        if match is None:
            raise ApiError(400, "bad_parameter", "after: a cursor from a previous page", "after")
        after = (int(match[1]), match[2], match[3], int(match[4]), int(match[5]))
    page = await run_in_threadpool(
        lambda: console.data.scans_by_time(
            from_ms=from_ms,
            to_ms=to_ms,
            location=_text_param(request, "location", _IDENT),
            employee=_text_param(request, "employee", _EMPLOYEE),
            station=_text_param(request, "station", _IDENT),
            units=token.units,
            after=after,
            limit=limit + 1,
        )
    )
    more = len(page) > limit
    items = page[:limit]
    cursor = None
    if more:
        last = items[-1]
        cursor = f"{last.wall_ms}:{last.station}:{last.journal}:{last.fork}:{last.seq}"
    return json_response(ScanPage(items=[_scan(v) for v in items], next=cursor))


@endpoint
async def rejects(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, {"limit", "station"})
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT) or 100
    station = _text_param(request, "station", _IDENT)
    rows = await run_in_threadpool(
        lambda: console.data.recent_rejects(station=station, limit=limit)
    )
    return json_response(
        [
            Reject(
                id=r.id,
                received_ms=r.received_ms,
                topic=r.topic,
                station=r.station,
                seq=r.seq,
                reason=r.reason,
                detail=r.detail,
            )
            for r in rows
        ]
    )


@endpoint
async def alerts(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, {"state", "limit"})
    state = request.query_params.get("state", "open")
    if state not in ("open", "cleared"):
        raise ApiError(400, "bad_parameter", "state: open or cleared", "state")
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT) or 100
    rows = await run_in_threadpool(
        lambda: console.store.alerts(cleared_only=state == "cleared", limit=limit)
    )
    return json_response([_alert(a) for a in rows])


def _alert(a: AlertRow) -> Alert:
    return Alert(
        id=a.id,
        raised_ms=a.raised_ms,
        station=a.station,
        kind=a.kind,
        subject=a.subject,
        detail=a.detail,
        cleared_ms=a.cleared_ms,
        cleared_by=a.cleared_by,
        evidence=a.evidence,
    )


_DATE = re.compile(params.DAY_PATTERN)
_MONTH = re.compile(params.MONTH_PATTERN)
_UNIT = re.compile(r"[^\x00-\x1f]{1,100}")


def _date_param(request: Request, name: str, pattern: re.Pattern[str]) -> dt.date:
    """A day (YYYY-MM-DD) or a month (YYYY-MM: its first day) from 2000 to 2100."""
    raw = request.query_params.get(name)
    try:
        if raw is None:
            raise ValueError(name)
        return params.day(raw) if pattern is _DATE else params.month(raw)
    except ValueError:
        first, last = params.FIRST_DAY.isoformat(), params.LAST_DAY.isoformat()
        if pattern is _DATE:
            what = f"a date YYYY-MM-DD from {first} to {last}"
        else:
            what = f"a month YYYY-MM from {first[:7]} to {last[:7]}"
        raise ApiError(400, "bad_parameter", f"{name}: {what}", name) from None


@endpoint
async def attendance_days(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, {"date", "unit"})
    day = _date_param(request, "date", _DATE)
    unit = _text_param(request, "unit", _UNIT)
    _, lines, _ = await run_in_threadpool(
        console.data.attendance_day, day, token.units, unit, now_ms()
    )
    return json_response(
        [
            AttendanceDay(
                employee=line.person.number,
                name=line.person.name,
                unit=line.person.unit,
                date=line.work_date.isoformat(),
                state=line.state,
                shift=line.shift,
                check_in_ms=line.day.first_in_ms if line.day else None,
                check_out_ms=line.day.last_out_ms if line.day else None,
                late_min=line.day.late_min if line.day else 0,
                early_min=line.day.early_min if line.day else 0,
                codes=list(line.codes),
                deduction=line.deduction,
                provisional=line.provisional,
                manual=line.manual,
                locations=list(line.day.locations) if line.day else [],
            )
            for line in lines
        ]
    )


@endpoint
async def attendance_recap(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, {"month", "unit"})
    first = _date_param(request, "month", _MONTH)
    unit = _text_param(request, "unit", _UNIT)
    last = params.month_after(first) - dt.timedelta(days=1)
    _, lines = await run_in_threadpool(
        console.data.attendance_recap, first, last, token.units, unit, now_ms()
    )
    return json_response(
        [
            RecapRow(
                employee=r.person.number,
                name=r.person.name,
                unit=r.person.unit,
                work_days=r.work_days,
                counts=r.counts,
                provisional_days=r.provisional,
                deduction=r.deduction,
            )
            for r in lines
        ]
    )


def _span(request: Request, longest_ms: int) -> tuple[int, int]:
    """The required from_ms and to_ms, the range cut to `longest_ms`."""
    _known(request, {"from_ms", "to_ms"})
    from_ms = _int_param(request, "from_ms", None, 0, MAX_MS)
    to_ms = _int_param(request, "to_ms", None, 0, MAX_MS)
    if from_ms is None or to_ms is None:
        raise ApiError(400, "bad_parameter", "give from_ms and to_ms", "from_ms")
    return from_ms, min(to_ms, from_ms + longest_ms)


@endpoint
async def attendance_checkins(console: Console, request: Request, token: ApiToken) -> Response:
    from_ms, to_ms = _span(request, CHECKIN_SPAN_MS)  # at most 32 days in one answer
    rows = await run_in_threadpool(console.data.attendance_checkins, from_ms, to_ms, token.units)
    return json_response(
        [
            CheckinRow(
                employee=c.employee,
                time_ms=c.at_ms,
                log_type="IN" if c.direction == "in" else "OUT",
                station=c.station,
                location=c.location,
            )
            for c in rows
        ]
    )


EVENT_SPAN_MS = 366 * 86_400_000


@endpoint
async def events(console: Console, request: Request, token: ApiToken) -> Response:
    from_ms, to_ms = _span(request, EVENT_SPAN_MS)
    found = await run_in_threadpool(console.data.events_between, from_ms, to_ms)
    return json_response(
        [
            EventRow(
                id=e.id,
                name=e.name,
                kind=e.kind,
                starts_ms=e.starts_ms,
                late_ms=e.late_ms,
                ends_ms=e.ends_ms,
                venue=e.venue,
                stations=list(e.stations),
                cancelled=e.cancelled,
                present=None if b is None else b.present,
                expected=None if b is None else b.expected,
                late=None if b is None else b.late,
                excused=None if b is None else b.excused,
            )
            for e, b in found
        ]
    )


@endpoint
async def event_attendance(console: Console, request: Request, token: ApiToken) -> Response:
    _known(request, set())
    event_id = request.path_params["event_id"]
    if not ANY_EVENT_ID.fullmatch(event_id):
        raise ApiError(404, "not_found", "no such event", "event_id")
    board = await run_in_threadpool(console.data.event_board, event_id, now_ms())
    if board is None:
        raise ApiError(404, "not_found", "no such event", "event_id")
    return json_response(
        [
            AttendeeRow(
                employee=a.number,
                name=a.name,
                unit=a.unit,
                status=a.status,
                time_ms=a.at_ms,
                station=a.station,
                expected=a.expected,
                counted=a.counted,
                reason=a.reason,
            )
            for a in board.attendees
            if (a.expected or a.counted) and (not token.units or a.unit in token.units)
        ]
    )


async def openapi(request: Request) -> Response:
    return json_response(openapi_document())


# -- the OpenAPI document ------------------------------------------------------------------------


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def openapi_document() -> dict[str, Any]:
    schemas, components = msgspec.json.schema_components(
        [
            list[Station],
            ScanPage,
            list[Reject],
            list[Alert],
            Error,
            list[AttendanceDay],
            list[RecapRow],
            list[CheckinRow],
            list[EventRow],
            list[AttendeeRow],
        ],
        ref_template="#/components/schemas/{name}",
    )
    station, scan_page, reject, alert, error, days, recap, checkins, events, attendees = schemas
    limit = _param(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "At most this many (100)"
    )
    ident = {"type": "string", "pattern": "^" + _IDENT.pattern + "$"}
    errors = {
        str(code): {"description": what, "content": {"application/json": {"schema": error}}}
        for code, what in (
            (400, "A bad parameter"),
            (401, "No or a wrong token"),
            (403, "Not allowed"),
            (503, "The store cannot be reached"),
        )
    }

    def get(summary: str, body: dict[str, Any], parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": parameters,
                "security": [{"token": []}],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
                    **errors,
                },
            }
        }

    ms = {"type": "integer", "minimum": 0, "maximum": MAX_MS}
    one_event = get(
        "Everyone expected at an event and the walk-ins who came, with their status",
        attendees,
        [
            {
                "name": "event_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^" + ANY_EVENT_ID.pattern + "$"},
                "description": "The event's id",
            }
        ],
    )
    one_event["get"]["responses"]["404"] = {
        "description": "No such event",
        "content": {"application/json": {"schema": error}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Presensi hub API",
            "version": "1",
            "description": "Stations, scans, rejects and alerts of the hub. Times: Unix ms, UTC.",
        },
        "paths": {
            "/api/v1/stations": get("Every station and its state", station, []),
            "/api/v1/scans": get(
                "Committed scans by time (oldest first), paged",
                scan_page,
                [
                    _param("from_ms", ms, "Scans made at or after (Unix ms)"),
                    _param("to_ms", ms, "Scans made before (Unix ms)"),
                    _param("location", ident, "One attendance point"),
                    _param(
                        "employee",
                        {"type": "string", "pattern": "^" + _EMPLOYEE.pattern + "$"},
                        "One employee number",
                    ),
                    _param("station", ident, "One station"),
                    limit,
                    _param(
                        "after",
                        {"type": "string", "pattern": "^" + _CURSOR.pattern + "$"},
                        "The `next` of the previous page",
                    ),
                ],
            ),
            "/api/v1/rejects": get(
                "Rejected messages, newest first",
                reject,
                [limit, _param("station", ident, "One station")],
            ),
            "/api/v1/attendance/days": get(
                "Every employee's attendance on one work day",
                days,
                [
                    {
                        **_param(
                            "date",
                            {"type": "string", "format": "date", "pattern": _DATE.pattern},
                            "The work day, YYYY-MM-DD",
                        ),
                        "required": True,
                    },
                    _param(
                        "unit", {"type": "string", "pattern": "^" + _UNIT.pattern + "$"}, "One unit"
                    ),
                ],
            ),
            "/api/v1/attendance/recap": get(
                "The monthly recap per employee",
                recap,
                [
                    {
                        **_param(
                            "month",
                            {"type": "string", "pattern": _MONTH.pattern},
                            "The month, YYYY-MM",
                        ),
                        "required": True,
                    },
                    _param(
                        "unit", {"type": "string", "pattern": "^" + _UNIT.pattern + "$"}, "One unit"
                    ),
                ],
            ),
            "/api/v1/attendance/checkins": get(
                "The punches attendance counts, oldest first (at most 32 days from from_ms)",
                checkins,
                [
                    {**_param("from_ms", ms, "From (Unix ms)"), "required": True},
                    {**_param("to_ms", ms, "Up to (Unix ms)"), "required": True},
                ],
            ),
            "/api/v1/events": get(
                "Events (apel, upacara, meetings) meeting a time range, with who came so far "
                "(at most 366 days from from_ms)",
                events,
                [
                    {**_param("from_ms", ms, "From (Unix ms)"), "required": True},
                    {**_param("to_ms", ms, "Up to (Unix ms)"), "required": True},
                ],
            ),
            "/api/v1/events/{event_id}/attendance": one_event,
            "/api/v1/alerts": get(
                "Alerts, newest first",
                alert,
                [
                    _param(
                        "state",
                        {"type": "string", "enum": ["open", "cleared"]},
                        "open (default) or cleared",
                    ),
                    limit,
                ],
            ),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }
