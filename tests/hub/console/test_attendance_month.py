"""An employee's month as a calendar, the recap as a printable PDF (rendered back with pdfium
and its text read), and the roster and holiday commands, at the request and command level."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pypdfium2
from click.testing import CliRunner
from starlette.testclient import TestClient

from presensi.hub.console import accounts
from presensi.hub.console.data import ConsoleData
from presensi.hub.store import SqlStore, open_store
from presensi.protocol.cli import main

from .conftest import PASSWORD
from .test_attendance_pages import fill

MakeClient = Callable[..., TestClient]


def pdf_text(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(io.BytesIO(data))
    try:
        return [document[n].get_textpage().get_text_range() for n in range(len(document))]
    finally:
        document.close()


def test_an_employees_month_as_a_calendar(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    store = console_store[1]
    fill(store)
    ConsoleData(store.database).add_user(
        "kabag", "viewer", accounts.hash_password(PASSWORD), units=["Teknik"], now_ms=1
    )
    admin = make_client("admin")
    page = admin.get("/pegawai/EMP-00002/kehadiran?bulan=2026-11").text
    # the 23rd (a Monday): present, late and early; the 24th absent; before the first scan:
    # nothing counted
    assert 'data-day="2026-11-23" data-state="hadir" data-codes="TL2 PSW2"' in page
    assert 'data-day="2026-11-24" data-state="absen" data-codes="TK"' in page
    assert 'data-day="2026-11-22" data-state="sebelum"' in page
    assert page.count("data-day=") == 30  # every day of November, in weeks from Monday
    assert "05:40" in page and "12:10" in page
    assert "/pegawai/EMP-00002/kehadiran" in admin.get("/pegawai/EMP-00002").text
    # another unit's person is not found for a unit head; his own is
    head = make_client("kabag")
    assert head.get("/pegawai/EMP-00002/kehadiran?bulan=2026-11").status_code == 404
    assert head.get("/pegawai/EMP-00003/kehadiran?bulan=2026-11").status_code == 200
    for bad in ("bulan=2026-13", "bulan=1999-01", "bulan=9999-12", "bulan=x"):
        assert admin.get(f"/pegawai/EMP-00002/kehadiran?{bad}").status_code == 400, bad
    assert admin.get("/pegawai/NOPE-1/kehadiran").status_code == 404


def test_the_recap_as_a_printable_pdf(
    make_client: MakeClient, console_store: tuple[str, SqlStore]
) -> None:
    fill(console_store[1])
    got = make_client("viewer").get("/kehadiran/rekap?bulan=2026-11&format=pdf")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.content.startswith(b"%PDF")
    text = "\n".join(pdf_text(got.content))
    assert "Rekap kehadiran 2026-11" in text and "Halaman 1" in text
    assert "Budi Santoso" in text and "=1+2" in text  # names printed as they are
    assert "Mengetahui" in text


def test_the_recap_pdf_roster_and_holiday_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    store = open_store(url)
    assert isinstance(store, SqlStore)
    try:
        store.migrate()
        fill(store)
    finally:
        store.close()
    runner = CliRunner()
    out = tmp_path / "rekap.pdf"
    made = runner.invoke(
        main, ["hub", "attendance", "recap", "2026-11", "--out", str(out), "--store", url]
    )
    assert made.exit_code == 0, made.output
    assert "Agus Prasetyo" in "\n".join(pdf_text(out.read_bytes()))
    # a roster with a mistake is refused whole, naming the line; then the right one is stored
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "pegawai,tanggal,shift\nEMP-00001,2026-11-25,malam\nEMP-00009,2026-11-25,pagi\n"
    )
    refused = runner.invoke(
        main, ["hub", "attendance", "roster", "import", str(roster), "--store", url]
    )
    assert refused.exit_code == 2 and "line 3: unknown employee 'EMP-00009'" in refused.output
    roster.write_text("pegawai,tanggal,shift\nEMP-00001,2026-11-25,malam\n")
    stored = runner.invoke(
        main, ["hub", "attendance", "roster", "import", str(roster), "--store", url]
    )
    assert stored.exit_code == 0 and "1 roster lines stored" in stored.output, stored.output
    holidays = tmp_path / "libur-2027.csv"
    holidays.write_text("tanggal,nama\n2027-03-20,Hari Raya Idul Fitri 1448 H\n")
    imported = runner.invoke(
        main, ["hub", "attendance", "holidays", "import", str(holidays), "--store", url]
    )
    assert imported.exit_code == 0 and "1 holidays added" in imported.output, imported.output
    listed = runner.invoke(
        main, ["hub", "attendance", "holidays", "list", "--year", "2027", "--store", url]
    )
    assert "2027-03-20  Hari Raya Idul Fitri 1448 H" in listed.output
    assert "2027-01-01  Tahun Baru 2027 Masehi" in listed.output  # the rules file's
    holidays.write_text("tanggal,nama\n20 Maret,Idul Fitri\n")
    bad = runner.invoke(
        main, ["hub", "attendance", "holidays", "import", str(holidays), "--store", url]
    )
    assert bad.exit_code == 2 and "line 2" in bad.output and "nothing changed" in bad.output
