"""Reports from the derived days (SQLite and PostgreSQL): a day's lines with absences from the
calendar, provisional while a station that could hold a person's scans has not delivered past
the day's windows and final once it drains, the monthly recap, and exports that Excel opens as
text (no formula from a name), read back with openpyxl."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from presensi.hub.attendance import export, reports
from presensi.hub.attendance.days import RulesInForce
from presensi.hub.people import Person, sync_people
from presensi.hub.store import SqlStore, StationInfo

from .factory import at, batch, chain

MONDAY = dt.date(2026, 11, 23)
NOW = at("2026-12-02 12:00")
FORMULA = '=HYPERLINK("http://evil.example","klik")'

MANGKANG = chain(
    "st-term-mangkang-01",
    [
        ("EMP-00001", "2026-11-23 04:58", "in"),
        ("EMP-00001", "2026-11-23 13:02", "out"),
        ("EMP-00002", "2026-11-23 05:40", "in"),
    ],
)
TERBOYO = chain("st-term-terboyo-01", [("EMP-00002", "2026-11-23 12:10", "out")])


def prepared(store: SqlStore) -> None:
    sync_people(
        store.database,
        [
            Person("EMP-00001", "Budi Santoso", "Pramudi (driver)", "Pagi"),
            Person("EMP-00002", FORMULA, "Pramudi (driver)", "Pagi"),
            Person("EMP-00003", "Agus Prasetyo", "Teknik", "Pagi"),  # never scanned
            Person("EMP-00004", "Sri Wahyuni", "Administrasi", "Kantor"),
        ],
        1,
    )
    for station, location in (
        ("st-term-mangkang-01", "term-mangkang"),
        ("st-term-terboyo-01", "term-terboyo"),
    ):
        store.register_station(StationInfo(station, bytes(32), location))


def reported(store: SqlStore, day: dt.date = MONDAY) -> dict[str, reports.DayLine]:
    while store.derive_attendance():
        pass
    rules = RulesInForce().get(store.database)[1]
    persons = reports.people(store.database)
    lines, _ = reports.daily(store.database, rules, day, persons, NOW)
    return {line.person.number: line for line in lines}


def test_a_station_offline_all_morning_keeps_its_people_provisional(store: SqlStore) -> None:
    prepared(store)
    store.ingest([batch(MANGKANG)], at("2026-11-23 13:03"))
    # Mangkang reported after the day with nothing left; Terboyo went quiet at 06:00 with a
    # backlog (its out-scan of 12:10 among it)
    store.update_station_status("st-term-mangkang-01", backlog=0, last_seen_ms=NOW - 60_000)
    store.update_station_status(
        "st-term-terboyo-01", backlog=3, last_seen_ms=at("2026-11-23 06:00"),
        telemetry_json=f'{{"oldest_unacked_ms": {at("2026-11-23 05:30")}}}',
    )  # fmt: skip
    lines = reported(store)
    assert (lines["EMP-00001"].codes, lines["EMP-00001"].provisional) == (("H",), False)
    # her check-out is missing so far and may be in any station: provisional, as are the
    # absences (not TK while Terboyo may hold their scans)
    assert lines["EMP-00002"].codes == ("TL2", "PSW4") and lines["EMP-00002"].provisional
    assert lines["EMP-00003"].state == "absen" and lines["EMP-00003"].provisional
    assert lines["EMP-00004"].state == "absen" and lines["EMP-00004"].provisional
    # Terboyo comes back and drains
    store.ingest([batch(TERBOYO)], NOW)
    store.update_station_status("st-term-terboyo-01", backlog=0, last_seen_ms=NOW)
    lines = reported(store)
    assert lines["EMP-00002"].codes == ("TL2", "PSW2") and not lines["EMP-00002"].provisional
    assert (lines["EMP-00003"].codes, lines["EMP-00003"].provisional) == (("TK",), False)
    assert lines["EMP-00003"].exception and not lines["EMP-00001"].exception
    # the office worker's Saturday is a day off, the crews' is a work day; a day to come is
    # neither absent nor present yet
    saturday = reported(store, MONDAY + dt.timedelta(days=5))
    assert saturday["EMP-00004"].state == "libur" and saturday["EMP-00003"].state == "absen"
    before = reported(store, MONDAY - dt.timedelta(days=30))  # the hub held nothing yet
    assert before["EMP-00003"].state == "sebelum" and not before["EMP-00003"].exception
    later = reported(store, MONDAY + dt.timedelta(days=14))
    assert later["EMP-00003"].state == "berlangsung" and later["EMP-00003"].codes == ()


def test_the_monthly_recap_and_its_exports(store: SqlStore) -> None:
    prepared(store)
    store.ingest([batch(MANGKANG)], NOW)
    store.ingest([batch(TERBOYO)], NOW)
    for station in ("st-term-mangkang-01", "st-term-terboyo-01"):
        store.update_station_status(station, backlog=0, last_seen_ms=NOW)
    reported(store)
    rules = RulesInForce().get(store.database)[1]
    persons = reports.people(store.database)
    first, last = dt.date(2026, 11, 23), dt.date(2026, 11, 24)  # Monday, Tuesday (so far)
    recap = reports.recap(store.database, rules, first, last, persons, NOW)
    lines = {r.person.number: r for r in recap}
    budi, siti, agus = lines["EMP-00001"], lines["EMP-00002"], lines["EMP-00003"]
    assert (budi.work_days, budi.counts) == (2, {"H": 1, "TK": 1})
    assert siti.counts == {"TL2": 1, "PSW2": 1, "TK": 1} and siti.deduction == 5.0
    assert agus.counts == {"TK": 2} and agus.deduction == 6.0
    table = export.recap_table(list(lines.values()), rules)

    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(table, "Rekap 2026-11")))
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["Nomor", "Nama", "Unit", "Hari kerja"] and "Potongan (%)" in header
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    name_cell = cells["EMP-00002"][1]
    assert name_cell.value == FORMULA and name_cell.data_type == "s"  # text, never a formula
    assert cells["EMP-00003"][header.index("TK")].value == 2
    assert cells["EMP-00003"][header.index("Potongan (%)")].value == 6.0

    text = export.to_csv(table).decode("utf-8-sig")
    rows = {r[0]: r for r in csv.reader(io.StringIO(text))}
    assert rows["EMP-00002"][1] == "'" + FORMULA  # what a spreadsheet shows as text
    assert rows["Nomor"][:3] == ["Nomor", "Nama", "Unit"]
