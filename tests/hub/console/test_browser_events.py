"""An event's board in a real browser (Debian's chromium through Playwright): a badge scanned by
a real station process, delivered through a real Mosquitto to `presensi hub run`, appears on the
board served by `presensi hub web` without a reload, the late one marked; the board's latency
from the scan is printed (the benchmark gives the percentiles)."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from pathlib import Path

import pytest

from presensi.hub.events import model
from presensi.hub.people import Person, sync_people
from tests.hub.console.test_browser import (  # noqa: F401 (fixtures)
    WALL,
    Site,
    browser,
    log_in,
    put_badge,
    script_error,
    shoot,
    site,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(300)]
WIB = zoneinfo.ZoneInfo("Asia/Jakarta")


def test_a_scan_at_the_venue_appears_on_the_board(
    site: Site,  # noqa: F811 (the fixture imported above)
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    site.start_hub()
    base = site.start_console()
    bed, frames, _ = site.add_station("st-balaikota-01")
    assert wait_for(lambda: any(r.online for r in site.store.stations()), 30), site.log(
        "st-balaikota-01"
    )
    db = site.store.database
    sync_people(
        db,
        [Person(f"EMP-{n:05d}", name, "Dinas Perhubungan", "Kantor") for n, name in
         enumerate(["Budi Santoso", "Siti Rahayu", "Agus Prasetyo", "Dewi Lestari"])],
        1,
    )  # fmt: skip
    # the event's zone: WIB, or UTC where a window around now would cross WIB's midnight
    zone = WIB
    if not dt.time(0, 30) < dt.datetime.now(WIB).time() < dt.time(23, 30):
        zone = zoneinfo.ZoneInfo("UTC")
    now = dt.datetime.now(zone)
    # the late threshold has passed a minute ago: the scan to come is late
    plan = model.Plan(
        id="apel-uji",
        name="Apel pagi",
        kind="apel",
        day=now.date(),
        start=(now - dt.timedelta(minutes=10)).time().replace(second=0, microsecond=0),
        late=(now - dt.timedelta(minutes=1)).time().replace(second=0, microsecond=0),
        end=(now + dt.timedelta(minutes=20)).time().replace(second=0, microsecond=0),
        venue="Halaman Balai Kota Semarang",
        stations=("st-balaikota-01",),
        units=("Dinas Perhubungan",),
        timezone=zone.key,
    )
    model.add_events(db, model.plan_events(db, plan), "admin", 1)
    page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if script_error(m) else None)
    log_in(page, base, "pemantau")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/acara/apel-uji/papan")
    assert page.get_attribute("[data-present]", "data-present") == "0"
    assert page.get_attribute("[data-present]", "data-expected") == "4"
    put_badge(frames, 1, bed.tokens[1])  # Siti Rahayu
    page.wait_for_selector('[data-present="1"]', timeout=20_000)
    shown_ms = time.time_ns() // 1_000_000
    [(wall_ms, received_ms)] = db.execute("SELECT wall_ms, received_ms FROM scans")
    print(
        f"board: shown {shown_ms - int(wall_ms)} ms after the scan, "
        f"{shown_ms - int(received_ms)} ms after the hub received it"
    )
    assert shown_ms - int(received_ms) <= 1500
    arrival = page.inner_text('li[data-employee="EMP-00001"]')
    assert "Siti Rahayu" in arrival and "Terlambat" in arrival
    shoot(page, tmp_path, "papan-wall")
    assert errors == []
