"""The console's event pages at the request level: the list, one event (statuses per unit, the
daftar hadir as XLSX, CSV and PDF read back, izin with its CSRF token), the board and its stream
(the first fragment read from the SSE response), a unit head limited to his units; and the
`presensi hub event` commands."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from starlette.testclient import TestClient

from presensi.hub.console import accounts
from presensi.hub.console.data import ConsoleData
from presensi.hub.events import model
from presensi.hub.store import SqlStore, open_store
from presensi.protocol.cli import main
from tests.hub.events.test_events import STATIONS, apel, prepared, scan

from .conftest import PASSWORD, csrf_of
from .test_attendance_month import pdf_text

MakeClient = Callable[..., TestClient]


def planned(store: SqlStore) -> None:
    prepared(store)
    db = store.database
    model.add_events(db, model.plan_events(db, apel()), "admin", 1)
    scan(
        store,
        STATIONS[0],
        [
            ("ASN-001", "2026-12-07 07:10"),
            ("ASN-004", "2026-12-07 07:40"),
            ("ASN-006", "2026-12-07 07:20"),
        ],
    )


def test_the_event_list_page_and_downloads(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    planned(store)
    viewer = make_client("viewer")
    listing = viewer.get("/acara?dari=2026-12-06").text
    assert 'data-event="apel-senin"' in listing and "3 / 6" in listing
    page = viewer.get("/acara/apel-senin").text
    assert 'data-employee="ASN-001" data-status="hadir"' in page
    assert 'data-employee="ASN-004" data-status="terlambat"' in page
    assert 'data-employee="ASN-006" data-status="hadir" data-walk-in="1"' in page
    assert 'data-employee="ASN-002" data-status="belum"' in page  # the apel is to come
    xlsx = viewer.get("/acara/apel-senin?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("No", "Nomor", "Nama", "Unit", "Status", "Waktu", "Stasiun", "Keterangan")
    assert ("ASN-004", "Terlambat", "07:40:00") in {(r[1], r[4], r[5]) for r in rows[1:]}
    csv_text = viewer.get("/acara/apel-senin?format=csv&unit=Bappeda").content.decode("utf-8-sig")
    assert "Dewi Lestari" in csv_text and "Budi Santoso" not in csv_text
    pdf = viewer.get("/acara/apel-senin?format=pdf")
    text = "\n".join(pdf_text(pdf.content))
    assert "Daftar hadir: Apel pagi Senin" in text and "hadir 3 / 6" in text
    assert viewer.get("/acara/tidak-ada").status_code == 404
    assert viewer.get("/acara/BAD!ID").status_code == 404
    assert viewer.get("/acara?dari=9999-01-01").status_code == 400


def test_izin_from_the_event_page_needs_an_operator_and_its_csrf_token(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    planned(store)
    viewer, operator = make_client("viewer"), make_client("operator")
    page = operator.get("/acara/apel-senin").text
    form = {"csrf": csrf_of(page), "pegawai": "ASN-002", "alasan": "dinas luar kota"}
    assert operator.post("/acara/apel-senin/izin", data={**form, "csrf": "x"}).status_code == 403
    assert viewer.post("/acara/apel-senin/izin", data=form).status_code == 403
    empty = operator.post("/acara/apel-senin/izin", data={**form, "alasan": " "})
    assert empty.status_code == 400
    done = operator.post("/acara/apel-senin/izin", data=form)
    assert done.status_code == 200 and 'data-employee="ASN-002" data-status="izin"' in done.text
    trail = [(a.actor, a.action) for a in ConsoleData(store.database).audit_trail()]
    assert ("operator", "event.excuse") in trail
    # someone the apel does not expect: refused, with why
    stranger = operator.post("/acara/apel-senin/izin", data={**form, "pegawai": "ASN-006"})
    assert stranger.status_code == 400
    assert "Izin ditolak: ASN-006 bukan peserta apel-senin" in stranger.text
    # an open meeting (whoever comes) offers no izin form at all
    rapat = apel(id="rapat-terbuka", kind="rapat", units=(), day=dt.date(2026, 12, 8))
    model.add_events(store.database, model.plan_events(store.database, rapat), "admin", 1)
    assert 'action="/acara/apel-senin/izin"' in operator.get("/acara/apel-senin").text
    open_page = operator.get("/acara/rapat-terbuka").text
    assert "/izin" not in open_page
    assert "<b>0</b> hadir" in open_page and "/ 0" not in open_page  # no one is expected
    open_board = operator.get("/acara/rapat-terbuka/papan").text
    assert 'data-present="0"' in open_board and "<small>/" not in open_board
    assert "tampil=belum" not in open_board  # nobody is missing from an open meeting
    assert "tampil=belum" in operator.get("/acara/apel-senin/papan").text
    listing = operator.get("/acara?dari=2026-12-06").text
    row = listing[listing.index('data-event="rapat-terbuka"') :].split("</tr>")[0]
    assert '<td class="num">0</td>' in row


def test_the_board_and_its_stream(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    planned(store)
    client = make_client("viewer")
    board = client.get("/acara/apel-senin/papan").text
    assert 'data-present="3" data-expected="6"' in board and "/static/board.js" in board
    assert "Terlambat" in board and "<script>" not in board.replace(
        '<script src="/static/board.js" defer></script>', ""
    )
    missing = client.get("/acara/apel-senin/papan?tampil=belum&unit=Dinas Perhubungan").text
    assert 'data-employee="ASN-002"' in missing and 'data-employee="ASN-004"' not in missing
    with client.stream("GET", "/acara/apel-senin/papan/aliran") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                fragment = json.loads(line[len("data: ") :])["html"]
                break
    assert 'data-present="3" data-expected="6"' in fragment
    # a unit head sees his units' people on the event page
    ConsoleData(store.database).add_user(
        "kabid", "viewer", accounts.hash_password(PASSWORD), units=["Bappeda"], now_ms=1
    )
    head = make_client("kabid").get("/acara/apel-senin").text
    assert 'data-employee="ASN-004"' in head and 'data-employee="ASN-001"' not in head


def test_the_event_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        store.migrate()
        prepared(store)
    finally:
        store.close()
    runner = CliRunner()
    listed = tmp_path / "peserta.csv"
    listed.write_text("pegawai\nASN-001\nASN-006\nASN-999\n")
    base = ["hub", "event", "add", "--store", url, "--name", "Rapat koordinasi", "--kind", "rapat"]
    base += ["--date", "2026-12-09", "--from", "09:00", "--late", "09:15", "--to", "10:00"]
    base += ["--venue", "Ruang rapat Lantai 8", "--station", STATIONS[0]]
    made = runner.invoke(main, [*base, "rapat-koordinasi", "--participants", str(listed)])
    assert made.exit_code == 0, made.output
    assert "rapat-koordinasi: Rapat koordinasi 2026-12-09 09:00-10:00" in made.output
    assert "left out (1): ASN-999" in made.output
    again = runner.invoke(main, [*base, "rapat-lain"])
    assert again.exit_code == 2 and "overlaps event 'rapat-koordinasi'" in again.output
    series = runner.invoke(
        main,
        [
            *base,
            "rapat-mingguan",
            "--from",
            "13:00",
            "--late",
            "13:10",
            "--to",
            "14:00",
            "--weekly-until",
            "2026-12-23",
        ],
    )
    assert series.exit_code == 0 and series.output.count("rapat-mingguan-") == 3, series.output
    cancelled = runner.invoke(
        main, ["hub", "event", "cancel", "rapat-mingguan-2026-12-16", "--store", url]
    )
    assert cancelled.exit_code == 0
    shown = runner.invoke(main, ["hub", "event", "list", "--from", "2026-12-08", "--store", url])
    assert "rapat-koordinasi" in shown.output and "dibatalkan" in shown.output
    assert "hadir 0 / 2" in shown.output
    izin = runner.invoke(
        main,
        [
            "hub",
            "event",
            "excuse",
            "rapat-koordinasi",
            "ASN-001",
            "--reason",
            "sakit",
            "--store",
            url,
        ],
    )
    assert izin.exit_code == 0
    moved = runner.invoke(
        main, ["hub", "event", "window", "rapat-koordinasi", "--late", "09:30", "--store", url]
    )
    assert moved.exit_code == 0 and "late after 09:30" in moved.output
    out = tmp_path / "daftar-hadir.xlsx"
    wrote = runner.invoke(
        main, ["hub", "event", "result", "rapat-koordinasi", "--out", str(out), "--store", url]
    )
    assert wrote.exit_code == 0, wrote.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    assert {(r[1], r[4], r[7]) for r in sheet.iter_rows(min_row=2, values_only=True)} == {
        ("ASN-001", "Izin", "sakit"),
        ("ASN-006", "Belum hadir", ""),  # the meeting is still to come
    }
    bad = runner.invoke(main, [*base, "x", "--from", "9 pagi"])
    assert bad.exit_code == 2 and "not a time HH:MM" in bad.output


def test_events_in_the_json_api(tmp_path: Path) -> None:
    from presensi.hub.console.api import new_token
    from presensi.hub.console.app import make_app
    from presensi.hub.console.core import ConsoleConfig
    from tests.hub.attendance.factory import at

    from .conftest import SECRET

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    planned(store)
    data = ConsoleData(store.database)
    tokens = {}
    for name, units in (("integrasi", ()), ("bappeda", ("Bappeda",))):
        secret, digest = new_token()
        data.add_api_token(name, "viewer", digest, units=units, now_ms=1)
        tokens[name] = {"Authorization": f"Bearer {secret}"}
    try:
        with TestClient(make_app(ConsoleConfig(url, SECRET, cache_s=0))) as client:
            span = f"from_ms={at('2026-12-07 00:00')}&to_ms={at('2026-12-08 00:00')}"
            listed = client.get(f"/api/v1/events?{span}", headers=tokens["integrasi"]).json()
            assert [(e["id"], e["present"], e["expected"], e["late"]) for e in listed] == [
                ("apel-senin", 3, 6, 1)
            ]
            everyone = client.get(
                "/api/v1/events/apel-senin/attendance", headers=tokens["integrasi"]
            ).json()
            assert {r["employee"]: r["status"] for r in everyone} == {
                "ASN-001": "hadir", "ASN-002": "belum", "ASN-003": "belum",
                "ASN-004": "terlambat", "ASN-005": "belum", "ASN-006": "hadir",
            }  # fmt: skip
            walk_in = next(r for r in everyone if r["employee"] == "ASN-006")
            assert (walk_in["expected"], walk_in["counted"]) == (False, True)
            mine = client.get("/api/v1/events/apel-senin/attendance", headers=tokens["bappeda"])
            assert {r["unit"] for r in mine.json()} == {"Bappeda"}
            missing = client.get("/api/v1/events/tidak-ada/attendance", headers=tokens["integrasi"])
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            bad = client.get("/api/v1/events?from_ms=x&to_ms=1", headers=tokens["integrasi"])
            assert bad.status_code == 400
            assert client.get(f"/api/v1/events?{span}").status_code == 401
    finally:
        store.close()


def test_a_new_event_from_the_console(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    planned(store)
    operator, viewer = make_client("operator"), make_client("viewer")
    page = operator.get("/acara/baru").text
    assert f'value="{STATIONS[0]}"' in page and 'value="Bappeda"' in page
    assert viewer.get("/acara/baru").status_code == 403
    form = {
        "csrf": csrf_of(page), "id": "upacara-hari-ibu", "nama": "Upacara Hari Ibu",
        "jenis": "upacara", "tanggal": "2026-12-22", "mulai": "07:00", "terlambat": "07:15",
        "selesai": "08:00", "tempat": "Halaman Balai Kota Semarang", "stasiun": list(STATIONS),
        "unit": ["Bappeda"], "walkin": "1", "sampai": "",
    }  # fmt: skip
    assert operator.post("/acara/baru", data={**form, "csrf": "x"}).status_code == 403
    made = operator.post("/acara/baru", data=form, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/acara/upacara-hari-ibu"
    shown = operator.get("/acara/upacara-hari-ibu").text
    assert "Upacara Hari Ibu" in shown and 'data-employee="ASN-004"' in shown
    # the same stations at the apel's time: refused, in the reader's language, nothing stored
    clash = operator.post(
        "/acara/baru",
        data={
            **form,
            "id": "rapat-pagi",
            "tanggal": "2026-12-07",
            "mulai": "07:45",
            "terlambat": "07:50",
        },
    )
    assert clash.status_code == 400
    assert "bertumpuk dengan acara apel-senin" in clash.text
    assert 'value="rapat-pagi"' in clash.text  # the form keeps what was typed
    bad = operator.post(
        "/acara/baru", data={**form, "id": "Apel!", "mulai": "09:00", "stasiun": []}
    )
    assert bad.status_code == 400
    assert "kode Apel! tidak sah" in bad.text and "pilih stasiun" in bad.text
    late = operator.post("/acara/baru", data={**form, "id": "x", "mulai": "7 pagi"})
    assert late.status_code == 400 and "tanggal atau jam tidak sah" in late.text
    assert model.get(store.database, "rapat-pagi") is None
    assert model.get(store.database, "x") is None
