"""The console: a Starlette app of server-rendered pages (Jinja2) over the hub's store.

`presensi hub web` serves it (uvicorn), beside the ingest workers rather than inside them: the
ingest is the exactly-once path, with its own watchdog and memory budget, and must not share a
process with page rendering; the console can be restarted, or run on another machine, without
touching ingest. Both read the same store.

Every page works without JavaScript; the live page adds a small script of ours
(static/live.js) that follows Server-Sent Events.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from presensi.hub.console import api, attendance, calendar, events, pages, phones
from presensi.hub.console.core import HERE, SESSION_S, Console, ConsoleConfig
from presensi.hub.console.data import ConsoleData
from presensi.hub.console.middleware import BodyLimit, SecurityHeaders
from presensi.hub.store import SqlStore, open_store


async def http_error(request: Request, exc: Exception) -> Response:
    console: Console = request.app.state.console
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    key = {404: "error.not_found", 413: "error.too_large", 405: "error.not_found"}.get(
        status, "error.title"
    )
    return console.error(request, status, key)


def make_app(config: ConsoleConfig) -> Starlette:
    store = open_store(config.store_url, existing=True)
    own = open_store(config.store_url, existing=True)  # the console's queries: a connection apart
    assert isinstance(own, SqlStore)
    data = ConsoleData(own.database)
    console = Console(config, data, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.feed.start()
        try:
            yield
        finally:
            await console.feed.stop()
            store.close()
            data.close()

    routes = [
        Route("/", pages.overview),
        Route("/masuk", pages.login_form, methods=["GET"]),
        Route("/masuk", pages.login, methods=["POST"]),
        Route("/keluar", pages.logout, methods=["POST"]),
        Route("/bahasa", pages.switch_language),
        Route("/sehat", pages.health),
        Route("/metrics", pages.metrics),
        Route("/api/v1/openapi.json", api.openapi),
        Route("/api/v1/stations", api.stations),
        Route("/api/v1/scans", api.scans),
        Route("/api/v1/rejects", api.rejects),
        Route("/api/v1/alerts", api.alerts),
        Route("/api/v1/attendance/days", api.attendance_days),
        Route("/api/v1/attendance/recap", api.attendance_recap),
        Route("/api/v1/attendance/checkins", api.attendance_checkins),
        Route("/api/v1/events", api.events),
        Route("/api/v1/events/{event_id}/attendance", api.event_attendance),
        Route("/stasiun", pages.stations),
        Route("/stasiun/{station_id}", pages.station),
        Route("/langsung", pages.live),
        Route("/langsung/aliran", pages.live_stream),
        Route("/kehadiran", attendance.day),
        Route("/kehadiran/rekap", attendance.recap),
        Route("/kehadiran/koreksi", attendance.correction, methods=["GET"]),
        Route("/kehadiran/koreksi", attendance.correct, methods=["POST"]),
        Route("/kehadiran/koreksi/{correction_id}/{decision}", attendance.decide, methods=["POST"]),
        Route("/pegawai", pages.employees),
        Route("/pegawai/{number}", pages.employee),
        Route("/pegawai/{number}/kehadiran", calendar.month),
        Route("/pegawai/{number}/ponsel", phones.issue_code, methods=["POST"]),
        Route("/ponsel", phones.phone_root),
        Route("/ponsel/", phones.phone_page),
        Route("/ponsel/sw.js", phones.service_worker),
        Route("/ponsel/manifest.webmanifest", phones.manifest),
        Route("/ponsel/waktu", phones.hub_time),
        Route("/ponsel/status", phones.phone_state),
        Route("/ponsel/daftar", phones.enroll, methods=["POST"]),
        Route("/acara", events.events),
        Route("/acara/baru", events.new_event, methods=["GET"]),
        Route("/acara/baru", events.add_event, methods=["POST"]),
        Route("/acara/{event_id}", events.event),
        Route("/acara/{event_id}/izin", events.excuse, methods=["POST"]),
        Route("/acara/{event_id}/papan", events.board_page),
        Route("/acara/{event_id}/papan/aliran", events.board_stream),
        Route("/lokasi", pages.places),
        Route("/peringatan", pages.alerts),
        Route("/peringatan/{alert_id}/tangani", pages.acknowledge, methods=["POST"]),
        Route("/pengguna", pages.users),
        Route("/audit", pages.audit),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(BodyLimit),
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=config.secret,
            session_cookie="presensi_sesi",
            max_age=SESSION_S,
            same_site="lax",
            https_only=config.secure_cookies,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.console = console
    return app
