"""The console's pages and the live stream. Each handler gets the Console and the logged-in
user from `page` (core.py); every store call runs in the thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from presensi.hub import badges
from presensi.hub.console import accounts, charts, evidence, i18n
from presensi.hub.console.core import Console, now_ms, page, safe_next
from presensi.hub.console.data import ScanView, User
from presensi.hub.console.live import PAGE_ROWS, Batch
from presensi.hub.console.timefmt import age, megabytes
from presensi.hub.errors import StoreError
from presensi.hub.model import StationRow
from presensi.hub.places import Place
from presensi.hub.telemetry import Sample

STATION_FILTERS = ("semua", "diam", "jam", "antrian")
LOCATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # the protocol's location ids


# -- login ---------------------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    console: Console = request.app.state.console
    notice = "login.logged_out" if request.query_params.get("keluar") else None
    return console.render(
        request,
        "login.html",
        {"next": safe_next(request.query_params.get("next", "/")), "notice": notice},
    )


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form()
    if not console.csrf_ok(request, form.get("csrf")):
        return console.error(request, 403, "error.csrf")
    name = str(form.get("user", ""))[:64].strip().lower()
    password = str(form.get("password", ""))
    target = safe_next(form.get("next", "/"))
    address = request.client.host if request.client else ""
    keys = (f"user:{name}", f"addr:{address}")
    t = i18n.translator(console.language(request))
    wait = console.throttle.wait_s(*keys)
    if wait > 0:
        with contextlib.suppress(StoreError):
            await run_in_threadpool(
                console.data.audit, name or "-", "login.throttled", now_ms=now_ms(), address=address
            )
        context = {"next": target, "error": t("login.throttled", seconds=int(wait) + 1)}
        return console.render(request, "login.html", context, status=429)
    try:
        user = await run_in_threadpool(console.data.user, name) if name else None
        ok = await run_in_threadpool(
            accounts.verify_password, user.password_hash if user else None, password
        )
        if not ok or user is None or user.disabled:
            console.throttle.failed(*keys)
            await run_in_threadpool(
                console.data.audit, name or "-", "login.failed", now_ms=now_ms(), address=address
            )
            context = {"next": target, "error": t("login.failed")}
            return console.render(request, "login.html", context, status=401)
        console.throttle.succeeded(keys[0])
        await run_in_threadpool(
            console.data.audit, user.name, "login", now_ms=now_ms(), address=address
        )
    except StoreError:
        return console.error(request, 503, "error.store")
    request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
    request.session.update({"user": user.name, "epoch": user.session_epoch})
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form()
    if not console.csrf_ok(request, form.get("csrf")):
        return console.error(request, 403, "error.csrf")
    user = None
    with contextlib.suppress(StoreError):
        user = await console.user(request)  # a session still valid (not ended elsewhere)
    request.session.clear()
    if user is not None:
        with contextlib.suppress(StoreError):
            address = request.client.host if request.client else ""
            # on the server side too: the cookie, kept or copied, no longer logs anyone in
            await run_in_threadpool(console.data.end_sessions, user.name)
            await run_in_threadpool(
                console.data.audit, user.name, "logout", now_ms=now_ms(), address=address
            )
    return RedirectResponse("/masuk?keluar=1", status_code=303)


async def switch_language(request: Request) -> Response:
    lang = request.query_params.get("ke", i18n.DEFAULT)
    if lang not in i18n.LANGUAGES:
        lang = i18n.DEFAULT
    response = RedirectResponse(safe_next(request.query_params.get("kembali", "/")), 303)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


async def health(request: Request) -> Response:
    console: Console = request.app.state.console
    try:
        await run_in_threadpool(console.data.ping)
    except StoreError:
        return Response('{"store": "unreachable"}', 503, media_type="application/json")
    return Response('{"store": "ok"}', media_type="application/json")


# -- station states ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationView:
    row: StationRow
    state: str  # online, offline, stale, never
    telemetry: dict[str, Any]

    @property
    def oldest_unsent_ms(self) -> int | None:
        value = self.telemetry.get("oldest_unacked_ms")
        return value if isinstance(value, int) else None

    @property
    def disk_free_mb(self) -> int | None:
        value = self.telemetry.get("disk_free_mb")
        return value if isinstance(value, int) else None

    @property
    def config_version(self) -> int | None:
        value = self.telemetry.get("config_version")
        return value if isinstance(value, int) else None


def station_views(
    console: Console, rows: list[StationRow], telemetry: dict[str, str]
) -> list[StationView]:
    now = now_ms()
    views = []
    for row in rows:
        if row.last_seen_ms is None:
            state = "never"
        elif not row.online:
            state = "offline"
        elif now - row.last_seen_ms > console.config.stale_after_s * 1000:
            state = "stale"
        else:
            state = "online"
        try:
            parsed = json.loads(telemetry.get(row.id) or "{}")
        except ValueError:
            parsed = {}
        views.append(StationView(row, state, parsed if isinstance(parsed, dict) else {}))
    return views


def fleet_now(console: Console) -> list[StationView]:
    """Every station's view, as read at most `cache_s` ago (shared by all pages)."""

    def read() -> list[StationView]:
        return station_views(console, console.store.stations(), console.data.telemetries())

    return console.shared.get("fleet", read)


async def fleet_views(console: Console) -> list[StationView]:
    return await run_in_threadpool(fleet_now, console)


def _today_per_location(console: Console) -> list[tuple[str, int, int]]:
    start = console.clock.start_of_today_ms(now_ms())
    return console.shared.get(("today", start), lambda: console.data.scans_per_location(start))


# -- pages ---------------------------------------------------------------------------------------


@page("view")
async def overview(console: Console, request: Request, user: User) -> Response:
    fleet = await fleet_views(console)
    counts = {state: 0 for state in ("online", "offline", "stale", "never")}
    for view in fleet:
        counts[view.state] += 1
    alerts = await run_in_threadpool(console.store.count_open_alerts)
    today = await run_in_threadpool(_today_per_location, console)
    workers = await run_in_threadpool(console.store.hub_workers)
    down = [w for w in workers if not w.connected]
    names = {p.id: p.name for p in await run_in_threadpool(console.data.places)}
    context = {
        "names": names,
        "counts": counts,
        "backlog": sum(v.row.backlog or 0 for v in fleet),
        "alerts": alerts,
        "today": today,
        "hub_down": down[0].since_ms if down and len(down) == len(workers) else None,
    }
    return console.render(request, "overview.html", context, user=user)


@page("view")
async def stations(console: Console, request: Request, user: User) -> Response:
    chosen = request.query_params.get("saring", "semua")
    if chosen not in STATION_FILTERS:
        return console.error(
            request, 400, "error.bad_value", user=user, name="saring", value=chosen[:40]
        )
    lang = console.language(request)
    shown, table = await run_in_threadpool(
        console.shared.get,
        ("fleet_table", lang, chosen),
        lambda: _fleet_table(console, lang, chosen),
    )
    context = {"fleet": shown, "chosen": chosen, "filters": STATION_FILTERS, "fleet_table": table}
    return console.render(request, "stations.html", context, user=user)


def _fleet_table(console: Console, lang: str, chosen: str) -> tuple[list[StationView], str]:
    """The stations a filter keeps and their table, rendered here (in a worker thread, not the
    event loop that feeds the live pages) and shared for `cache_s`: at 1,000 stations
    rendering the table is most of the page's cost."""
    now = now_ms()
    quiet_ms = 10 * 60 * 1000
    keep: Callable[[StationView], bool] = {
        "semua": lambda v: True,
        "diam": lambda v: v.row.last_seen_ms is None or now - v.row.last_seen_ms > quiet_ms,
        "jam": lambda v: v.row.clock_synced is False,
        "antrian": lambda v: (v.row.backlog or 0) > 0,
    }[chosen]
    shown = [v for v in fleet_now(console) if keep(v)]
    template = console.templates.env.get_template("_fleet.html")
    html = template.render(
        fleet=shown,
        now=now,
        age=age,
        megabytes=megabytes,
        t=i18n.translator(lang),
        clock=console.clock.speaking(lang),
    )
    return shown, html  # our own template's output, escaped by it (shown with | safe)


@page("view")
async def station(console: Console, request: Request, user: User) -> Response:
    station_id = request.path_params["station_id"]
    fleet = await fleet_views(console)
    view = next((v for v in fleet if v.row.id == station_id), None)
    if view is None:
        return console.error(request, 404, "error.not_found", user=user)
    chosen = request.query_params.get("rentang", charts.DEFAULT_RANGE)
    if chosen not in charts.RANGES:
        return console.error(request, 400, "error.bad_range", user=user, value=chosen[:40])
    scans = await run_in_threadpool(
        lambda: console.data.recent_scans(station=station_id, units=user.units)
    )
    rejects = await run_in_threadpool(lambda: console.data.recent_rejects(station=station_id))
    journals = await run_in_threadpool(console.store.journals, station_id)
    context = {
        "charts": await _telemetry_charts(console, station_id, chosen),
        "ranges": charts.RANGES,
        "chosen_range": chosen,
        "view": view,
        "scans": scans,
        "rejects": rejects,
        "journals": journals,
        "telemetry_text": json.dumps(view.telemetry, indent=1, sort_keys=True),
        "now": now_ms(),
        "age": age,
    }
    return console.render(request, "station.html", context, user=user)


async def _telemetry_charts(console: Console, station: str, chosen: str) -> list[charts.Chart]:
    hours, label_every_h = charts.RANGES[chosen]
    end = now_ms()
    start = end - hours * 3_600_000
    samples = await run_in_threadpool(console.data.telemetry_history, station, start)
    series: list[tuple[str, Callable[[Sample], float | None], Callable[[float], str]]] = [
        ("backlog", lambda s: s.backlog_max, charts.count),
        ("disk", lambda s: s.disk_free_mb, lambda mb: megabytes(round(mb))),
        (
            "clock",
            lambda s: None if s.clock_offset_ms is None else s.clock_offset_ms / 1000,
            charts.seconds,
        ),
    ]
    return [
        charts.line_chart(
            key,
            samples,
            value,
            start_ms=start,
            end_ms=end,
            clock=console.clock,
            label_every_h=label_every_h,
            fmt=fmt,
            min_top=2 if key == "backlog" else 0,  # whole records on the axis: 0, 1, 2
        )
        for key, value, fmt in series
    ]


@page("view")
async def live(console: Console, request: Request, user: User) -> Response:
    location = request.query_params.get("lokasi") or None
    locations = await run_in_threadpool(console.data.locations)
    if location is not None and not LOCATION_ID.fullmatch(location):
        return console.error(
            request, 400, "error.bad_value", user=user, name="lokasi", value=location[:40]
        )
    scans = await run_in_threadpool(
        lambda: console.data.recent_scans(location=location, units=user.units)
    )
    context = {"scans": scans, "location": location, "locations": locations}
    return console.render(request, "live.html", context, user=user)


def scan_data(console: Console, scan: ScanView, lang: str) -> dict[str, object]:
    t = i18n.translator(lang)
    return {
        "key": "/".join(str(k) for k in scan.key),
        "time": console.clock.speaking(lang).time(scan.shown_ms),
        "station": scan.station,
        "location": scan.location,
        "employee": scan.employee or "-",
        "name": scan.name or "",
        "direction": t(f"dir.{scan.direction}"),
        "outcome": scan.outcome,
        "outcome_text": t(f"outcome.{scan.outcome}"),
        "reason": scan.reason,
        "reason_text": i18n.named(lang)("reason", scan.reason),
        "synced": scan.clock_synced,
        "received_ms": scan.received_ms,
    }


def batch_event(
    console: Console, batch: Batch, lang: str, location: str | None, allowed: frozenset[str] | None
) -> str:
    """The `scans` event of one poll for a page (oldest first, at most a page's rows), made
    once per language and filter and shared by every page that asks the same."""
    key = (lang, location, allowed)
    text = batch.rendered.get(key)
    if text is None:
        scans = [
            s
            for s in batch.scans
            if (location is None or s.location == location)
            and (allowed is None or s.employee in allowed)
        ][-PAGE_ROWS:]
        if scans:
            data = [scan_data(console, s, lang) for s in scans]
            text = f"event: scans\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        else:
            text = ""
        batch.rendered[key] = text
    return text


@page("view")
async def live_stream(console: Console, request: Request, user: User) -> Response:
    location = request.query_params.get("lokasi") or None
    lang = console.language(request)
    # a unit head's page: only his units' people (as they were when the page connected)
    allowed = (
        frozenset(await run_in_threadpool(console.data.numbers_in_units, user.units))
        if user.units
        else None
    )

    async def events() -> AsyncIterator[str]:
        async with console.feed.subscribe() as queue:
            yield "retry: 2000\n\n"
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if batch is None:  # dropped (too slow) or shutting down: the page reconnects
                    return
                text = batch_event(console, batch, lang, location, allowed)
                if text:
                    yield text

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@page("administer")
async def users(console: Console, request: Request, user: User) -> Response:
    people = await run_in_threadpool(console.data.users)
    return console.render(request, "users.html", {"people": people}, user=user)


# -- alerts and rejects -------------------------------------------------------------------------

REJECT_REASON = re.compile(r"[a-z_]{1,40}")


@page("view")
async def alerts(console: Console, request: Request, user: User) -> Response:
    reason = request.query_params.get("alasan") or None
    if reason is not None and not REJECT_REASON.fullmatch(reason):
        return console.error(
            request, 400, "error.bad_value", user=user, name="alasan", value=reason[:40]
        )
    lang = console.language(request)
    quiet, quiet_table = await run_in_threadpool(
        console.shared.get, ("quiet_table", lang), lambda: _quiet_table(console, lang)
    )
    open_alerts = await run_in_threadpool(lambda: console.store.alerts(limit=200))
    handled = await run_in_threadpool(lambda: console.store.alerts(cleared_only=True, limit=20))
    reasons = await run_in_threadpool(
        console.shared.get, "reject_reasons", console.data.reject_reasons
    )
    rejects = await run_in_threadpool(lambda: console.data.recent_rejects(reason=reason, limit=100))
    refused = await run_in_threadpool(
        lambda: console.data.recent_scans(refused=True, units=user.units, limit=50)
    )
    revoked = await run_in_threadpool(
        lambda: console.data.accepted_after_revocation(units=user.units, limit=50)
    )
    places = {p.id: p.name for p in await run_in_threadpool(console.data.places)}
    named = sorted(evidence.employees_named(open_alerts))
    people = await run_in_threadpool(console.data.names, named)
    context = {
        "revoked": revoked,
        "refused": refused,
        "quiet": quiet,
        "quiet_table": quiet_table,
        "open_alerts": open_alerts,
        "detail": evidence.describer(lang, console.clock, evidence.Names(places, people)),
        "handled": handled,
        "reasons": reasons,
        "reason": reason,
        "rejects": rejects,
        "notice": request.query_params.get("ok"),
    }
    return console.render(request, "alerts.html", context, user=user)


def _quiet_table(console: Console, lang: str) -> tuple[list[StationView], str]:
    """The stations gone quiet and their table, as _fleet_table does for the fleet."""
    quiet = [v for v in fleet_now(console) if v.state in ("offline", "stale")]
    html = console.templates.env.get_template("_quiet.html").render(
        quiet=quiet, t=i18n.translator(lang), clock=console.clock.speaking(lang)
    )
    return quiet, html


@page("operate")
async def acknowledge(console: Console, request: Request, user: User) -> Response:
    form = await request.form()
    if not console.csrf_ok(request, form.get("csrf")):
        return console.error(request, 403, "error.csrf", user=user)
    raw = request.path_params["alert_id"]
    if not raw.isdigit() or len(raw) > 18:
        return console.error(request, 400, "error.bad_value", user=user, name="id", value=raw[:20])
    address = request.client.host if request.client else ""
    at = now_ms()
    done = await run_in_threadpool(console.store.clear_alert, int(raw), at, user.name)
    if not done:
        return console.error(request, 404, "alerts.gone", user=user)
    await run_in_threadpool(
        lambda: console.data.audit(
            user.name, "alert.ack", now_ms=at, subject=f"alert {raw}", address=address
        )
    )
    return RedirectResponse("/peringatan?ok=1", status_code=303)


@page("administer")
async def audit(console: Console, request: Request, user: User) -> Response:
    rows = await run_in_threadpool(console.data.audit_trail)
    return console.render(request, "audit.html", {"rows": rows}, user=user)


# -- people --------------------------------------------------------------------------------------

EMPLOYEE_NUMBER = re.compile(r"[A-Za-z0-9._-]{1,32}")  # the badge's employee number


@page("view")
async def employees(console: Console, request: Request, user: User) -> Response:
    text = request.query_params.get("cari", "").strip()
    if len(text) > 64:
        return console.error(request, 400, "error.bad_param", user=user, name="cari")
    found = await run_in_threadpool(lambda: console.data.find_people(text, units=user.units))
    held = await run_in_threadpool(console.data.badges_of, [p.number for p in found])
    now_s = now_ms() // 1000
    states = {p.number: badges.employee_state(held.get(p.number, []), now_s) for p in found}
    context = {"found": found, "text": text, "badge_states": states}
    return console.render(request, "employees.html", context, user=user)


@page("view")
async def employee(console: Console, request: Request, user: User) -> Response:
    number = request.path_params["number"]
    if not EMPLOYEE_NUMBER.fullmatch(number):
        return console.error(
            request, 400, "error.bad_value", user=user, name="pegawai", value=number[:40]
        )
    who = await run_in_threadpool(console.data.person, number)
    if who is None or (user.units and who.unit not in user.units):
        return console.error(request, 404, "error.not_found", user=user)  # not 403: no hint
    scans = await run_in_threadpool(lambda: console.data.recent_scans(employee=number, limit=100))
    held = (await run_in_threadpool(console.data.badges_of, [number])).get(number, [])
    held_phones = await run_in_threadpool(console.data.phones_of, number)
    now_s = now_ms() // 1000
    context = {
        "who": who,
        "scans": scans,
        "badges": [(b, b.state(now_s)) for b in held],
        "badge_state": badges.employee_state(held, now_s),
        "phones": [(p, p.state(now_s)) for p in held_phones],
        "phone_enrolment": console.phone_key is not None,
    }
    return console.render(request, "employee.html", context, user=user)


# -- metrics -------------------------------------------------------------------------------------

LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def metrics(request: Request) -> Response:
    """Prometheus, for loopback clients only (see metrics.py)."""
    from presensi.hub.console.metrics import CONTENT_TYPE, exposition

    console: Console = request.app.state.console
    if request.client is None or request.client.host not in LOOPBACK:
        return Response("metrics are served to loopback clients only\n", 403)
    try:
        body = await run_in_threadpool(exposition, console)
    except StoreError:
        return Response("store unreachable\n", 503)
    return Response(body, media_type=CONTENT_TYPE)


# -- attendance points ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceView:
    place: Place
    stations: int
    online: int
    scans_today: int
    people_today: int
    x: float  # on the page's map, 0..1000
    y: float


def place_views(
    found: list[Place], fleet: list[StationView], today: list[tuple[str, int, int]]
) -> list[PlaceView]:
    """Each point with its stations and today's scans, and where it sits on a plain
    equirectangular map of the points' own bounding box (no tiles: the hub works air-gapped)."""
    if not found:
        return []
    lats = [p.latitude for p in found]
    lons = [p.longitude for p in found]
    lat_span = max(max(lats) - min(lats), 1e-4)
    lon_span = max(max(lons) - min(lons), 1e-4)
    height = map_height(found)
    counts = {loc: (scans, people) for loc, scans, people in today}
    views = []
    for p in found:
        here = [v for v in fleet if v.row.location == p.id]
        scans, people_today = counts.get(p.id, (0, 0))
        views.append(
            PlaceView(
                p,
                len(here),
                sum(v.state == "online" for v in here),
                scans,
                people_today,
                x=60 + 680 * (p.longitude - min(lons)) / lon_span,  # room for labels
                y=60 + (height - 120) * (max(lats) - p.latitude) / lat_span,
            )
        )
    return views


def map_height(found: list[Place]) -> int:
    """The map's height for a width of 1000, keeping the points' north-south extent in
    proportion (near the equator a degree is as long both ways), between 300 and 1000."""
    if not found:
        return 300
    lats = [p.latitude for p in found]
    lons = [p.longitude for p in found]
    ratio = max(max(lats) - min(lats), 1e-4) / max(max(lons) - min(lons), 1e-4)
    return int(min(1000, max(300, 120 + 880 * ratio)))


@page("view")
async def places(console: Console, request: Request, user: User) -> Response:
    found = await run_in_threadpool(console.data.places)
    fleet = await fleet_views(console)
    today = await run_in_threadpool(_today_per_location, console)
    views = place_views(found, fleet, today)
    context = {"places": views, "height": map_height(found)}
    return console.render(request, "places.html", context, user=user)
