"""The console in a real browser: Debian's chromium, headless, driven by Playwright (never a
downloaded browser), against `presensi hub web`, `presensi hub run` and a real station process
(`presensi station run`, a watched folder for its camera) through a real Mosquitto.

Screenshots of each page at a phone's and a wall screen's size, taken while `presensi demo`
runs (the demo's own data), are written to the test's folder (and, with PRESENSI_SCREENSHOTS=DIR,
to DIR: docs/console/ is made so) so that a person can look at them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from presensi.demo.mosquitto import free_port
from presensi.device.testbed import StationFolder, create
from presensi.hardware.camera_sim import Condition, render_badge_frame
from presensi.hub.console import accounts
from presensi.hub.console.data import ConsoleData
from presensi.hub.events import model
from presensi.hub.people import Person, sync_people
from presensi.hub.places import Place, sync_places
from presensi.hub.store import SqlStore, StationInfo, open_store
from presensi.protocol.keys import load_signing_key, raw_public
from tests.conftest import MosquittoFactory

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto, pytest.mark.timeout(300)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PRESENSI = str(Path(sys.executable).with_name("presensi"))
PASSWORD = "sandi-uji-yang-panjang"
PHONE = {"width": 390, "height": 844}
XSS = "<script>alert(1)</script>"
SEMARANG_POINTS = [
    Place("kantor-blu", "Kantor BLU Trans Semarang", "office", -6.9839, 110.4089, "Asia/Jakarta"),
    Place("term-mangkang", "Terminal Mangkang", "terminal", -6.9663, 110.2866, "Asia/Jakarta"),
    Place("term-terboyo", "Terminal Terboyo", "terminal", -6.9465, 110.4620, "Asia/Jakarta"),
    Place("pool-penggaron", "Pool Penggaron", "pool", -7.0202, 110.4958, "Asia/Jakarta"),
    Place("halte-balaikota", "Halte Balai Kota", "halte", -6.9845, 110.4094, "Asia/Jakarta"),
]
WALL = {"width": 1920, "height": 1080}


def wait_for(check: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Site:
    """A hub store with users, a broker, the hub, the console, and stations as processes."""

    def __init__(self, tmp_path: Path, broker_url: str) -> None:
        self.tmp = tmp_path
        self.broker_url = broker_url
        self.store_url = f"sqlite:///{tmp_path / 'hub.db'}"
        self.processes: list[subprocess.Popen[bytes]] = []
        store = open_store(self.store_url)
        assert isinstance(store, SqlStore)
        store.migrate()
        self.store = store
        data = ConsoleData(store.database)
        for name, role in (("admin", "admin"), ("pemantau", "viewer")):
            data.add_user(name, role, accounts.hash_password(PASSWORD), units=(), now_ms=1)

    def spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{log}.log").open("wb")
        process = subprocess.Popen([PRESENSI, *args], stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def start_hub(self) -> None:
        self.spawn("hub", "run", "--store", self.store_url, "--broker", self.broker_url, log="hub")
        assert wait_for(lambda: "hub connected to the broker" in self.log("hub")), self.log("hub")

    def start_console(self) -> str:
        port = free_port()
        self.spawn(
            *("hub", "web", "--store", self.store_url, "--listen", f"127.0.0.1:{port}"),
            *("--secret-file", str(self.tmp / "console.secret")),
            log="web",
        )
        assert wait_for(lambda: listening(port)), self.log("web")
        return f"http://127.0.0.1:{port}"

    def add_station(self, name: str) -> tuple[StationFolder, Path, subprocess.Popen[bytes]]:
        bed = create(self.tmp / name, station=name, employees=4, broker=self.broker_url)
        frames = self.tmp / f"{name}-frames"
        frames.mkdir()
        text = bed.config_path.read_text().replace(
            'backend = "sim"\nsource = "badges.txt"',
            f'backend = "folder"\nsource = "{frames}"\nwatch = true',
        )
        bed.config_path.write_text(text)
        key = load_signing_key(bed.folder / "station.key")
        self.store.register_station(StationInfo(name, raw_public(key.public), "halte-balaikota"))
        process = self.spawn("station", "run", "--config", str(bed.config_path), log=name)
        return bed, frames, process

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.store.close()


@pytest.fixture
def site(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> Iterator[Site]:
    broker = mosquitto_factory(allow_anonymous=True, persistence=True)
    s = Site(tmp_path, broker.url)
    yield s
    s.close()


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def script_error(message: object) -> bool:
    """A script error or a CSP violation (a refused login's 401 is not one)."""
    text = str(message.text)  # type: ignore[attr-defined]
    return message.type == "error" and not text.startswith("Failed to load resource")  # type: ignore[attr-defined]


def shoot(page: object, tmp: Path, name: str) -> None:
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    target = os.environ.get("PRESENSI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def log_in(page: object, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/")  # type: ignore[attr-defined]
    page.fill('input[name="user"]', name)  # type: ignore[attr-defined]
    page.fill('input[name="password"]', password)  # type: ignore[attr-defined]
    page.click('button[type="submit"]')  # type: ignore[attr-defined]


def put_badge(frames: Path, n: int, token: str) -> None:
    image = render_badge_frame(token, np.random.default_rng(n), Condition.CLEAN)
    staging = frames / f".{n:03d}.png.part"
    Image.fromarray(image).save(staging, format="PNG")
    staging.replace(frames / f"{n:03d}.png")


def test_log_in_switch_language_and_log_out(site: Site, browser: object, tmp_path: Path) -> None:
    base = site.start_console()
    page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if script_error(m) else None)
    page.goto(f"{base}/stasiun")
    assert page.url.startswith(f"{base}/masuk?next=/stasiun")
    shoot(page, tmp_path, "masuk-wall")
    page.fill('input[name="user"]', "admin")
    page.fill('input[name="password"]', "salah-sekali-sandinya")
    page.click('button[type="submit"]')
    assert "Nama pengguna atau kata sandi salah" in page.inner_text(".error")
    page.fill('input[name="user"]', "admin")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_load_state()
    assert page.url == f"{base}/stasiun", (page.url, page.inner_text("main"))
    assert page.inner_text("h1") == "Stasiun"
    page.click("text=English")
    page.wait_for_url(f"{base}/stasiun")
    assert page.inner_text("h1") == "Stations"
    assert "Times shown in WIB" in page.inner_text("footer")
    page.click("text=Bahasa Indonesia")
    assert page.inner_text("h1") == "Stasiun"
    page.click("text=Keluar")
    page.wait_for_url(f"{base}/masuk?keluar=1")
    assert "Anda sudah keluar" in page.inner_text("main")
    page.goto(f"{base}/")
    assert "/masuk" in page.url  # the session is gone
    assert errors == []  # no CSP violation, no script error


def test_cheating_signals_on_the_alerts_page_in_both_languages(
    site: Site, browser: object, tmp_path: Path
) -> None:
    """Each signal's evidence worded in the reader's language, times in WIB; an alert raised
    before the evidence was kept shows its stored words; screenshots at both sizes."""
    from presensi.hub.attendance import signals

    from .test_evidence import EXPECTED

    now = time.time_ns() // 1_000_000
    with site.store.database.transaction():
        site.store.database.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail) "
            "VALUES (?, 'st-term-mangkang-01', NULL, ?, 'EMP-00007 7 2026-12-01', ?)",
            (now - 60_000, signals.REVOKED, "EMP-00007: revoked badge 7 presented at "
             "term-mangkang (st-term-mangkang-01) at 2026-12-01 00:10:00 UTC (raised before)"),
        )  # fmt: skip
        signals.raise_signals(
            site.store.database, [make() for make, _, _ in EXPECTED.values()], now
        )
    for lang, column, shown in _alerts_in_each_language(site, browser, tmp_path, "sinyal"):
        for what, words in EXPECTED.items():
            assert words[column + 1] in shown, (lang, what)
        assert "(raised before)" in shown and shown.count("UTC") == 1  # only the old one


def _alerts_in_each_language(
    site: Site, browser: object, tmp_path: Path, name: str
) -> Iterator[tuple[str, int, str]]:
    """Peringatan's open alerts as a viewer reads them, in Bahasa Indonesia then in English:
    (language, 0 or 1, the table's text); after each, screenshots at both sizes, and no alert
    wider than the phone (a long hash breaks inside its card)."""
    base = site.start_console()
    page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
    log_in(page, base, "pemantau")
    page.wait_for_url(f"{base}/")
    for lang, other, column in (("id", "English", 0), ("en", "Bahasa Indonesia", 1)):
        page.set_viewport_size(WALL)
        page.goto(f"{base}/peringatan")
        yield lang, column, page.inner_text("table.alerts")
        shoot(page, tmp_path, f"peringatan-{name}-{lang}-wall")
        page.set_viewport_size(PHONE)
        shoot(page, tmp_path, f"peringatan-{name}-{lang}-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate(
            "[...document.querySelectorAll('table.alerts td.wrap')]"
            ".every(td => td.scrollWidth <= td.clientWidth)"
        )
        page.click(f"text={other}")
        page.wait_for_load_state()


def test_journal_alerts_on_the_alerts_page_in_both_languages(
    site: Site, browser: object, tmp_path: Path
) -> None:
    """Each journal alert (new journal, fork, two live histories, edited record, broken chain)
    raised through the store's ingest and worded in the reader's language, hashes shortened; one
    raised before the evidence was kept shows its stored words; screenshots at both sizes."""
    from .test_journal_evidence import EXPECTED, expected

    stations = {kind: f"st-jurnal-{i:02d}" for i, kind in enumerate(EXPECTED, 1)}
    for kind, (make, _, _) in EXPECTED.items():
        make(site.store, stations[kind])
    with site.store.database.transaction():
        site.store.database.execute(
            "INSERT INTO alerts (raised_ms, station, journal, kind, subject, detail) "
            "VALUES (?, 'st-lama-01', ?, 'chain_break', ?, ?)",
            (time.time_ns() // 1_000_000, "e" * 32, "e" * 32 + "/9", f"station st-lama-01 "
             f"journal {'e' * 32} seq 9: prev_hash {'d' * 64} is not the hash of its seq 8"),
        )  # fmt: skip
    for lang, column, shown in _alerts_in_each_language(site, browser, tmp_path, "jurnal"):
        for kind, station in stations.items():
            assert expected(kind, station)[column] in shown, (lang, kind)
        assert f"prev_hash {'d' * 64} is not" in shown  # the old one, as it was stored


def test_a_viewer_is_refused_the_admin_pages(site: Site, browser: object) -> None:
    base = site.start_console()
    page = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    log_in(page, base, "pemantau")
    page.wait_for_url(f"{base}/")
    assert page.locator('nav a[href="/pengguna"]').count() == 0
    answer = page.goto(f"{base}/pengguna")
    assert answer is not None and answer.status == 403
    assert "tidak berhak" in page.inner_text("main")


def test_a_form_without_its_csrf_token_is_refused(site: Site, browser: object) -> None:
    """The logout form, its hidden token taken out in the page before it is sent: refused, and
    nothing happened (still logged in); with its token it works."""
    base = site.start_console()
    page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
    log_in(page, base, "admin")
    page.wait_for_url(f"{base}/")
    removed = page.evaluate(
        "() => { const f = document.querySelector('form[action=\"/keluar\"]');"
        " const i = f.querySelector('input[name=\"csrf\"]'); i.remove();"
        " return f.querySelectorAll('input[name=\"csrf\"]').length; }"
    )
    assert removed == 0
    with page.expect_navigation():
        page.click('form[action="/keluar"] button[type="submit"]')
    assert "Formulir kedaluwarsa atau tidak sah" in page.inner_text("main")
    answer = page.goto(f"{base}/stasiun")
    assert answer is not None and answer.status == 200 and "/masuk" not in page.url
    # a token from another session (an attacker's own) is refused the same way
    page.evaluate(
        '() => { document.querySelector(\'form[action="/keluar"] input[name="csrf"]\')'
        ".value = 'x'.repeat(43); }"
    )
    with page.expect_navigation():
        page.click('form[action="/keluar"] button[type="submit"]')
    assert "Formulir kedaluwarsa" in page.inner_text("main")
    page.goto(f"{base}/")
    page.click('form[action="/keluar"] button[type="submit"]')
    page.wait_for_url(f"{base}/masuk?keluar=1")


def test_a_unit_head_sees_only_his_units_people(site: Site, browser: object) -> None:
    """A viewer limited to one unit, added with the command an admin uses: another unit's
    person is not found (404, not 403: no hint that they exist), in no list or search."""
    sync_people(
        site.store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Teknik", "pagi"),
            Person("EMP-00002", "Siti Rahayu", "Keuangan", "pagi"),
        ],
        1,
    )
    added = subprocess.run(
        [
            *(PRESENSI, "hub", "user", "add", "kabag", "--role", "viewer", "--unit", "Teknik"),
            *("--store", site.store_url),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    base = site.start_console()
    page = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    log_in(page, base, "kabag")
    page.wait_for_url(f"{base}/")
    answer = page.goto(f"{base}/pegawai/EMP-00002")
    assert answer is not None and answer.status == 404
    assert "Halaman tidak ditemukan" in page.inner_text("main")
    mine = page.goto(f"{base}/pegawai/EMP-00001")
    assert mine is not None and mine.status == 200 and "Budi Santoso" in page.inner_text("main")
    page.goto(f"{base}/pegawai")
    listed = page.inner_text("main")
    assert "Budi Santoso" in listed and "Siti Rahayu" not in listed
    page.goto(f"{base}/pegawai?cari=Siti")
    assert "Siti Rahayu" not in page.inner_text("main")
    page.goto(f"{base}/kehadiran?semua=1")
    assert "EMP-00002" not in page.inner_text("main")


def test_a_scan_appears_live_and_a_killed_station_turns_offline(
    site: Site, browser: object, tmp_path: Path
) -> None:
    site.start_hub()
    base = site.start_console()
    bed, frames, station = site.add_station("st-halte-balaikota-01")
    assert wait_for(lambda: any(r.online for r in site.store.stations()), 30), site.log(
        "st-halte-balaikota-01"
    )

    # a name from the employees CSV that is markup: it must show as text, never run
    sync_people(site.store.database, [Person("EMP-00000", XSS, "Pramudi Koridor I", "pagi")], 1)
    sync_places(site.store.database, SEMARANG_POINTS, 1)
    page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if script_error(m) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, base, "admin")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/langsung")
    page.wait_for_selector("#live-status.live")
    # the page notes the moment a row is added (an observer set up through DevTools, not a
    # script of the page: the CSP is untouched), rather than when the test gets to look
    page.evaluate(
        "() => { const body = document.body;"
        " new MutationObserver(() => { if (!window.__shownAt &&"
        " document.querySelector('tr[data-key^=\"st-halte-balaikota-01/\"]'))"
        " window.__shownAt = Date.now(); }).observe(body, {childList: true, subtree: true}); }"
    )
    put_badge(frames, 1, bed.tokens[0])
    row = page.wait_for_selector('tr[data-key^="st-halte-balaikota-01/"]', timeout=20_000)
    assert row is not None
    shown_ms = page.evaluate("() => window.__shownAt || Date.now()")
    assert len(site.store.scans("st-halte-balaikota-01")) == 1  # the hub holds it, once
    made, received = _scan_times(site)
    # the station, the hub and the browser share this machine's clock: from the scan's own
    # time (the station decoded the badge and wrote its journal) to the row on the page
    latency = shown_ms - made
    print(f"live: shown {latency} ms after the scan, {shown_ms - received} ms after the hub")
    assert latency <= 1000, f"shown {latency} ms after the scan was made"
    assert "EMP-00000" in row.inner_text() and "masuk" in row.inner_text()
    assert XSS in row.inner_text()  # shown as text by the live script
    page.goto(f"{base}/pegawai?cari=EMP-00000")
    assert XSS in page.inner_text("table")  # and by the server's templates
    page.goto(f"{base}/langsung")
    assert XSS in page.inner_text("table")
    assert dialogs == []
    # kill -9: the broker publishes the station's last will, the hub marks it offline
    page.set_viewport_size(WALL)
    station.send_signal(signal.SIGKILL)
    station.wait(5)
    killed = time.monotonic()
    selector = 'tr[data-station="st-halte-balaikota-01"]'

    def offline() -> bool:
        page.goto(f"{base}/stasiun")
        return page.get_attribute(selector, "data-state") == "offline"

    assert wait_for(offline, 10), page.inner_text("table")
    assert time.monotonic() - killed <= 10
    assert errors == []


def _scan_times(site: Site) -> tuple[int, int]:
    """The one scan's own time (the station's clock) and when the hub received it."""
    rows = site.store.database.execute("SELECT wall_ms, received_ms FROM scans")
    assert len(rows) == 1
    return int(rows[0][0]), int(rows[0][1])


def test_every_page_of_the_running_demo_in_screenshots(browser: object, tmp_path: Path) -> None:
    """`presensi demo` as a new user starts it; every page, with the demo's data, at a wall
    screen's and a phone's size; then Ctrl-C, and the demo's own exactly-once check."""
    port = free_port()
    demo = subprocess.Popen(
        [
            *(PRESENSI, "demo", "--stations", "4", "--employees", "60", "--seed", "7"),
            *("--data-dir", str(tmp_path / "demo"), "--console-port", str(port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("demo:"):
                break
        base = f"http://127.0.0.1:{port}"
        store_url = f"sqlite:///{tmp_path / 'demo' / 'hub.db'}"
        store = open_store(store_url, existing=True)
        try:
            # a minute of scanning: every station has reported and scanned a few times
            assert wait_for(lambda: store.count_scans() >= 40, 120)
            assert wait_for(lambda: all(r.online for r in store.stations()), 30)
            data = ConsoleData(store.database)
            assert wait_for(lambda: bool(data.recent_scans(refused=True)), 60)  # a lost card
        finally:
            store.close()
        page = browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if script_error(m) else None)
        page.goto(f"{base}/")
        shoot(page, tmp_path, "masuk-wall")
        log_in(page, base, "demo", "presensi-demo")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/pegawai")
        first = page.get_attribute("tr[data-employee]", "data-employee")  # by name
        today = dt.datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()
        lost = page.locator('tr:has(a[href="/pegawai/EMP-00001"]) [data-badge]')
        assert lost.get_attribute("data-badge") == "aktif"  # reissued after a lost card
        pages = [
            ("/", "ringkasan", "Terminal Mangkang"),
            ("/stasiun", "stasiun", "st-demo-04"),
            ("/stasiun/st-demo-01", "stasiun-detail", "Riwayat telemetri"),
            ("/langsung", "langsung", "st-demo-0"),
            ("/lokasi", "lokasi", "Terminal Mangkang"),
            ("/peringatan", "peringatan", "Kartu yang ditolak stasiun"),
            ("/kehadiran?semua=1", "kehadiran", "lengkap s/d"),
            ("/kehadiran/rekap", "rekap", "Hari kerja"),
            ("/pegawai", "pegawai", str(first)),
            ("/pegawai/EMP-00001", "pegawai-detail", "diganti oleh seri"),
            (f"/kehadiran/koreksi?pegawai=EMP-00001&tanggal={today}", "koreksi", "Alasan"),
            ("/audit", "audit", "masuk"),
            ("/pengguna", "pengguna", "demo"),
            ("/pegawai/EMP-00001/kehadiran", "kalender", "hari kerja"),
            ("/acara/baru", "acara-baru", "Simpan acara"),
        ]
        with contextlib.closing(open_store(store_url, existing=True)) as events_store:
            apel = model.get(events_store.database, "apel-demo")  # type: ignore[attr-defined]
        if apel is not None:  # (the demo plans none within WIB's midnight hours)
            pages += [
                ("/acara", "acara", "Apel pagi (demo)"),
                ("/acara/apel-demo", "acara-detail", "daftar hadir"),
                ("/acara/apel-demo/papan", "papan", "Hadir"),
            ]
        for path, name, expected in pages:
            page.set_viewport_size(WALL)
            answer = page.goto(f"{base}{path}")
            assert answer is not None and answer.status == 200, path
            if path == "/langsung":
                page.wait_for_selector("#live-status.live")
            assert expected in page.inner_text("main"), (path, expected)
            shoot(page, tmp_path, f"{name}-wall")
            page.set_viewport_size(PHONE)
            shoot(page, tmp_path, f"{name}-phone")
            # nothing sticks out sideways on a phone: wide tables scroll inside their box
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
        page.goto(f"{base}/peringatan")
        assert page.locator("tr.rejected[data-key]").count() >= 1  # badges refused
        page.goto(f"{base}/stasiun/st-demo-01")
        assert page.locator('[data-chart="backlog"] svg').count() == 1  # it has reported
        assert errors == []
    finally:
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=90)[0]
    assert demo.returncode == 0, rest  # every signalled scan in the hub, once
    assert "duplicates_in_hub      0" in rest
