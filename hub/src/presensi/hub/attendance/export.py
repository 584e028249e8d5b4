"""Attendance exports for payroll and HR: CSV and real XLSX (XlsxWriter), column names in
Bahasa Indonesia. Safe to open: text is never turned into a formula, a link or a number (a
name from an employees CSV such as "=HYPERLINK(...)" stays that text)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import Sequence

import xlsxwriter

from presensi.hub.attendance.reports import Checkin, DayLine, RecapLine
from presensi.hub.attendance.rules import Rules

Table = tuple[list[str], list[list[object]]]

_STATE = {
    "hadir": "Hadir",
    "absen": "Tidak hadir",
    "libur": "Libur",
    "berlangsung": "Berlangsung",
    "sebelum": "Sebelum pencatatan",
}
_RISKY = ("=", "+", "-", "@", "\t", "\r")
_FLAG = {"elsewhere": "di luar lokasi tugas"}


def _time(ms: int | None, zone: zoneinfo.ZoneInfo) -> str:
    return "" if ms is None else dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%H:%M")


def daily_table(lines: Sequence[DayLine], zone_name: str) -> Table:
    zone = zoneinfo.ZoneInfo(zone_name)
    header = [
        "Tanggal", "Nomor", "Nama", "Unit", "Sif", "Status", "Masuk", "Pulang",
        "Terlambat (menit)", "Pulang cepat (menit)", "Kode", "Potongan (%)", "Lokasi",
        "Sementara", "Koreksi", "Catatan",
    ]  # fmt: skip
    rows: list[list[object]] = []
    for line in lines:
        d = line.day
        rows.append(
            [
                line.work_date.isoformat(),
                line.person.number,
                line.person.name,
                line.person.unit,
                line.shift or "",
                _STATE[line.state],
                _time(d.first_in_ms if d else None, zone),
                _time(d.last_out_ms if d else None, zone),
                d.late_min if d else 0,
                d.early_min if d else 0,
                " ".join(line.codes),
                line.deduction,
                " ".join(d.locations) if d else "",
                "ya" if line.provisional else "",
                "manual" if line.manual else "",
                ", ".join(_FLAG.get(f, f) for f in d.flags) if d else "",
            ]
        )
    return header, rows


def recap_table(lines: Sequence[RecapLine], rules: Rules) -> Table:
    codes = list(rules.codes)
    header = ["Nomor", "Nama", "Unit", "Hari kerja", *codes, "Hari sementara", "Potongan (%)"]
    rows: list[list[object]] = [
        [
            line.person.number,
            line.person.name,
            line.person.unit,
            line.work_days,
            *(line.counts.get(c, 0) for c in codes),
            line.provisional,
            line.deduction,
        ]
        for line in lines
    ]
    return header, rows


def _safe(cell: object) -> object:
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (OWASP's
    advice for CSV); numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(_RISKY):
        return "'" + cell
    return cell


def to_csv(table: Table) -> bytes:
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_safe(c) for c in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode()  # a BOM: Excel then reads UTF-8 names right


def to_xlsx(table: Table, sheet: str) -> bytes:
    header, rows = table
    out = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(out, {**options, "strings_to_numbers": False})
    page = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    page.write_row(0, 0, header, bold)
    for n, row in enumerate(rows, 1):
        for col, cell in enumerate(row):
            if isinstance(cell, str):
                page.write_string(n, col, cell)
            else:
                page.write_number(n, col, float(cell))  # type: ignore[arg-type]
    page.freeze_panes(1, 0)
    page.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
    page.set_column(0, len(header) - 1, 14)
    book.close()
    return out.getvalue()


def to_pdf(table: Table, title: str, subtitle: str, zone_name: str) -> bytes:
    """The table as a printable PDF (presensi.hub.attendance.pdf; reportlab imported only
    here, when a PDF is asked for)."""
    from presensi.hub.attendance.pdf import table_pdf

    header, rows = table
    made = dt.datetime.now(zoneinfo.ZoneInfo(zone_name))
    return table_pdf(header, rows, title=title, subtitle=subtitle, made=made)


def frappe_checkins(rows: Sequence[Checkin], zone_name: str) -> Table:
    """Check-ins in the shape of Frappe HRMS's Employee Checkin, as its
    `add_log_based_on_employee_field` takes them: the employee found by the Employee's
    "Attendance Device ID" field (set it to the Presensi employee number), the time in the
    site's zone, the station as the device, IN or OUT."""
    zone = zoneinfo.ZoneInfo(zone_name)
    header = ["employee_field_value", "timestamp", "device_id", "log_type"]
    body: list[list[object]] = [
        [
            c.employee,
            dt.datetime.fromtimestamp(c.at_ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S"),
            c.station,
            "IN" if c.direction == "in" else "OUT",
        ]
        for c in rows
    ]
    return header, body
