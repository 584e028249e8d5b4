"""The console's attendance pages at the request level: a day's exceptions (and everyone), the
month's recap, their XLSX and CSV downloads, a unit head limited to his units, bad input 400,
and the attendance commands (rules check, load, recompute, recap)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from starlette.testclient import TestClient

from presensi.hub.attendance.rules import DEFAULT_RULES
from presensi.hub.console import accounts
from presensi.hub.console.data import ConsoleData
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo
from presensi.protocol.cli import main
from tests.hub.attendance.factory import at, batch, chain

from .conftest import PASSWORD

MakeClient = Callable[..., TestClient]


def fill(store: SqlStore) -> None:
    sync_people(
        store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi (driver)", "Pagi"),
            Person("EMP-00002", "=1+2", "Pramudi (driver)", "Pagi"),
            Person("EMP-00003", "Agus Prasetyo", "Teknik", "Pagi"),
        ],
        1,
    )
    store.register_station(StationInfo("st-term-mangkang-01", bytes(32), "term-mangkang"))
    records = chain(
        "st-term-mangkang-01",
        [
            ("EMP-00001", "2026-11-23 04:58", "in"),
            ("EMP-00001", "2026-11-23 13:02", "out"),
            ("EMP-00002", "2026-11-23 05:40", "in"),
            ("EMP-00002", "2026-11-23 12:10", "out"),
            ("EMP-00003", "2026-11-23 05:00", "in"),
            ("EMP-00003", "2026-11-23 13:00", "out"),
        ],
    )
    store.ingest([batch(records)], at("2026-11-23 13:05"))
    store.update_station_status(
        "st-term-mangkang-01", backlog=0, last_seen_ms=at("2026-12-01 00:00")
    )
    while store.derive_attendance():
        pass


def test_a_days_exceptions_everyone_and_the_download(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    fill(console_store[1])
    client = make_client("viewer")
    page = client.get("/kehadiran?tanggal=2026-11-23").text
    assert 'data-employee="EMP-00002"' in page and 'data-codes="TL2 PSW2"' in page
    assert 'data-employee="EMP-00001"' not in page  # on time: not an exception
    assert "lengkap s/d" in page and 'data-location="term-mangkang"' in page
    everyone = client.get("/kehadiran?tanggal=2026-11-23&semua=1").text
    assert everyone.count('data-state="hadir"') == 3
    tuesday = client.get("/kehadiran?tanggal=2026-11-24").text  # nobody came: TK, final
    assert tuesday.count('data-codes="TK"') == 3 and "data-provisional" not in tuesday
    xlsx = client.get("/kehadiran?tanggal=2026-11-23&format=xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Tanggal", "Nomor", "Nama") and rows[1][2] == "=1+2"
    assert sheet["C2"].data_type == "s"  # the name is text, not the formula 1+2
    for bad in ("tanggal=2026-13-01", "tanggal=kemarin", "unit=" + "x" * 101):
        assert client.get(f"/kehadiran?{bad}").status_code == 400, bad


def test_the_recap_and_a_unit_head(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    fill(store)
    ConsoleData(store.database).add_user(
        "kabag", "viewer", accounts.hash_password(PASSWORD), units=["Teknik"], now_ms=1
    )
    admin = make_client("admin")
    page = admin.get("/kehadiran/rekap?bulan=2026-11").text
    budi = page[page.index('data-employee="EMP-00001"') :]
    budi = budi[: budi.index("</tr>")]
    assert '<td class="num" data-code="H">1</td>' in budi  # one day present, the rest TK
    csv_text = admin.get("/kehadiran/rekap?bulan=2026-11&format=csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Nomor,Nama,Unit,Hari kerja,H,")
    assert "'=1+2" in csv_text
    head = make_client("kabag")
    mine = head.get("/kehadiran/rekap?bulan=2026-11").text
    assert 'data-employee="EMP-00003"' in mine and 'data-employee="EMP-00001"' not in mine
    other = head.get("/kehadiran/rekap?bulan=2026-11&unit=Pramudi (driver)").text
    assert 'data-employee="EMP-00001"' not in other  # another unit: nothing
    assert admin.get("/kehadiran/rekap?bulan=2026-1").status_code == 400


def test_the_attendance_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    runner = CliRunner()
    rules = tmp_path / "aturan.toml"
    rules.write_text(DEFAULT_RULES.replace('start = "05:00"', 'start = "5 pagi"'))
    line = DEFAULT_RULES.splitlines().index('start = "05:00"') + 1
    refused = runner.invoke(
        main, ["hub", "attendance", "rules", "load", str(rules), "--store", url]
    )
    assert refused.exit_code != 0 and f"line {line}: shifts.pagi.start" in refused.output
    rules.write_text(DEFAULT_RULES.replace('start = "05:00"', 'start = "06:00"'))
    loaded = runner.invoke(main, ["hub", "attendance", "rules", "load", str(rules), "--store", url])
    assert loaded.exit_code == 0 and "rules version 1 in force" in loaded.output, loaded.output
    from presensi.hub.store import open_store

    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        fill(store)
    finally:
        store.close()
    again = runner.invoke(
        main,
        [
            "hub",
            "attendance",
            "recompute",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--store",
            url,
        ],
    )
    assert again.exit_code == 0 and "recomputed" in again.output, again.output
    out = tmp_path / "rekap.xlsx"
    made = runner.invoke(
        main, ["hub", "attendance", "recap", "2026-11", "--out", str(out), "--store", url]
    )
    assert made.exit_code == 0, made.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    # the shift starts at 06:00 now: 04:58 and 05:40 are on time
    siti = rows["EMP-00002"]
    assert (siti[header.index("TL2")], siti[header.index("PSW2")]) == (0, 1)  # 12:10: early


def test_a_correction_needs_a_second_person_and_leaves_a_trail(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from .conftest import csrf_of

    store = console_store[1]
    fill(store)
    operator, admin, viewer = make_client("operator"), make_client("admin"), make_client("viewer")
    where = "pegawai=EMP-00003&tanggal=2026-11-24"
    page = operator.get(f"/kehadiran/koreksi?{where}").text
    assert 'data-codes="TK"' in page
    form = {"csrf": csrf_of(page), "pegawai": "EMP-00003", "tanggal": "2026-11-24"}
    empty = operator.post("/kehadiran/koreksi", data={**form, "kode": "S", "alasan": " "})
    assert empty.status_code == 400 and "koreksi perlu alasan" in empty.text
    unknown = operator.post("/kehadiran/koreksi", data={**form, "kode": "XX", "alasan": "sakit"})
    assert unknown.status_code == 400 and "status XX tidak dikenal" in unknown.text
    assert (
        viewer.post("/kehadiran/koreksi", data={**form, "kode": "S", "alasan": "x"}).status_code
        == 403
    )
    made = operator.post(
        "/kehadiran/koreksi",
        data={**form, "kode": "S", "alasan": "demam, surat dokter", "lampiran": "surat.pdf"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = operator.get(f"/kehadiran/koreksi?{where}").text
    assert 'data-decision="none"' in page and 'data-codes="TK"' in page  # not yet
    assert "/setujui" not in page  # not for the one who asked
    (pending,) = store.database.execute("SELECT id FROM attendance_corrections")
    own = operator.post(f"/kehadiran/koreksi/{pending[0]}/setujui", data={"csrf": csrf_of(page)})
    assert own.status_code == 409 and "harus diputuskan orang lain" in own.text
    page = admin.get(f"/kehadiran/koreksi?{where}").text
    done = admin.post(f"/kehadiran/koreksi/{pending[0]}/setujui", data={"csrf": csrf_of(page)})
    assert done.status_code == 200 and 'data-decision="approved"' in done.text
    assert 'data-codes="S"' in done.text and "(manual)" in done.text
    day = admin.get("/kehadiran?tanggal=2026-11-24").text
    assert 'data-employee="EMP-00003"' not in day  # decided by a person: no longer an exception
    again = admin.post(f"/kehadiran/koreksi/{pending[0]}/tolak", data={"csrf": csrf_of(page)})
    assert again.status_code == 409
    trail = [(a.actor, a.action) for a in ConsoleData(store.database).audit_trail()]
    assert ("operator", "attendance.correct") in trail and ("admin", "attendance.approved") in trail
    # a missing time set by hand: one more punch, derived by the hub
    page = operator.get("/kehadiran/koreksi?pegawai=EMP-00002&tanggal=2026-11-23").text
    operator.post(
        "/kehadiran/koreksi",
        data={"csrf": csrf_of(page), "pegawai": "EMP-00002", "tanggal": "2026-11-23",
              "pulang": "13:00", "alasan": "pemindai halte mati"},
    )  # fmt: skip
    (second,) = store.database.execute("SELECT MAX(id) FROM attendance_corrections")
    page = admin.get("/kehadiran/koreksi?pegawai=EMP-00002&tanggal=2026-11-23").text
    approved = admin.post(f"/kehadiran/koreksi/{second[0]}/setujui", data={"csrf": csrf_of(page)})
    assert approved.status_code == 200
    while store.derive_attendance():
        pass
    fixed = admin.get("/kehadiran/koreksi?pegawai=EMP-00002&tanggal=2026-11-23").text
    assert 'data-codes="TL2"' in fixed and "(manual)" in fixed  # no longer PSW2
    scans = store.database.execute("SELECT COUNT(*) FROM scans WHERE employee = 'EMP-00002'")
    assert scans == [(2,)]  # the raw scans are untouched


def test_corrections_from_the_command_line(tmp_path: Path) -> None:
    from presensi.hub.store import open_store

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    store.migrate()
    try:
        fill(store)
    finally:
        store.close()
    runner = CliRunner()
    base = ["hub", "attendance", "--help"]
    assert "correct" in runner.invoke(main, base).output
    asked = runner.invoke(
        main,
        ["hub", "attendance", "correct", "EMP-00003", "2026-11-24", "--code", "C",
         "--reason", "cuti tahunan", "--store", url],
    )  # fmt: skip
    assert asked.exit_code == 0 and "waiting for a second person" in asked.output, asked.output
    own = runner.invoke(main, ["hub", "attendance", "approve", "1", "--store", url])
    assert own.exit_code != 0 and "second person" in own.output  # the same user: refused
    bad = runner.invoke(
        main,
        ["hub", "attendance", "correct", "EMP-00003", "2026-11-24", "--in", "25:00",
         "--reason", "x", "--store", url],
    )  # fmt: skip
    assert bad.exit_code != 0 and "not a time HH:MM" in bad.output


def test_a_revoked_badge_accepted_offline_is_flagged_and_not_counted(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    from presensi.hub.badges import Badge, sync_badges

    store = console_store[1]
    fill(store)  # EMP-00003 scanned in and out on 2026-11-23 with serial...
    (serial,) = store.database.execute(
        "SELECT DISTINCT serial FROM scans WHERE employee = 'EMP-00003'"
    )[0]
    client = make_client("admin")
    before = client.get("/kehadiran?tanggal=2026-11-23&semua=1").text
    assert 'data-employee="EMP-00003" data-state="hadir"' in before
    # the card was reported lost at 04:00, the station at the terminal had not heard yet
    lost = Badge(int(serial), "EMP-00003", 0, 2_000_000_000, 1, at("2026-11-23 04:00"), "hilang")
    sync_badges(store.database, [lost], at("2026-11-24 08:00"))
    while store.derive_attendance():
        pass
    after = client.get("/kehadiran?tanggal=2026-11-23&semua=1").text
    assert 'data-employee="EMP-00003" data-state="absen"' in after  # not counted
    alerts = client.get("/peringatan").text
    flagged = alerts[
        alerts.index("Kartu dicabut yang diterima") : alerts.index("Kartu yang ditolak")
    ]
    assert flagged.count("data-key=") == 2 and "EMP-00003" in flagged
    # scans made before the revocation still count (the revocation was entered wrongly)
    sync_badges(
        store.database,
        [Badge(int(serial), "EMP-00003", 0, 2_000_000_000, 1, at("2026-11-23 14:00"), "hilang")],
        3,
    )
    while store.derive_attendance():
        pass
    again = client.get("/kehadiran?tanggal=2026-11-23&semua=1").text
    assert 'data-employee="EMP-00003" data-state="hadir"' in again


def test_the_hr_api_and_the_frappe_checkins(
    make_client: MakeClient, console_store: tuple[str, SqlStore], tmp_path: Path
) -> None:
    from presensi.hub.console.api import new_token

    url, store = console_store
    fill(store)
    token, digest = new_token()
    ConsoleData(store.database).add_api_token("payroll", "viewer", digest, units=(), now_ms=1)
    head, head_digest = new_token()
    ConsoleData(store.database).add_api_token(
        "teknik", "viewer", head_digest, units=["Teknik"], now_ms=1
    )
    client = make_client()
    auth = {"Authorization": f"Bearer {token}"}
    days = client.get("/api/v1/attendance/days?date=2026-11-23", headers=auth).json()
    siti = next(d for d in days if d["employee"] == "EMP-00002")
    assert siti["codes"] == ["TL2", "PSW2"] and siti["late_min"] == 40 and not siti["provisional"]
    recap = client.get("/api/v1/attendance/recap?month=2026-11", headers=auth).json()
    assert {r["employee"] for r in recap} == {"EMP-00001", "EMP-00002", "EMP-00003"}
    span = f"from_ms={at('2026-11-23 00:00')}&to_ms={at('2026-11-24 00:00')}"
    checkins = client.get(f"/api/v1/attendance/checkins?{span}", headers=auth).json()
    assert [c["log_type"] for c in checkins if c["employee"] == "EMP-00001"] == ["IN", "OUT"]
    mine = client.get(
        "/api/v1/attendance/days?date=2026-11-23", headers={"Authorization": f"Bearer {head}"}
    ).json()
    assert [d["employee"] for d in mine] == ["EMP-00003"]  # his unit only
    bad = client.get("/api/v1/attendance/days?date=23-11-2026", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "date"

    out = tmp_path / "checkin.csv"
    made = CliRunner().invoke(
        main,
        ["hub", "attendance", "checkins", "--from", "2026-11-23", "--to", "2026-11-23",
         "--out", str(out), "--store", url],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "employee_field_value,timestamp,device_id,log_type"
    assert "EMP-00001,2026-11-23 04:58:00,st-term-mangkang-01,IN" in lines
    assert len(lines) == 1 + 6
