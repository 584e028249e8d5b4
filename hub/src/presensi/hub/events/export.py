"""An event's attendance list ("daftar hadir") per unit, as CSV, XLSX or a printable PDF with
lines to sign under; column names in Bahasa Indonesia, text never turned into a formula (the
attendance exports' writers)."""

from __future__ import annotations

from presensi.hub.attendance import export
from presensi.hub.events.results import Board

STATUS = {
    "hadir": "Hadir",
    "terlambat": "Terlambat",
    "izin": "Izin",
    "belum": "Belum hadir",
    "tidak_hadir": "Tidak hadir",
}


def table(board: Board, unit: str | None = None) -> export.Table:
    event = board.event
    header = ["No", "Nomor", "Nama", "Unit", "Status", "Waktu", "Stasiun", "Keterangan"]
    rows: list[list[object]] = []
    shown = [a for a in board.attendees if (a.expected or a.counted) and unit in (None, a.unit)]
    for n, a in enumerate(sorted(shown, key=lambda a: (a.unit, a.name, a.number)), 1):
        note = a.reason if a.status == "izin" else ("" if a.expected else "tidak terdaftar")
        rows.append(
            [
                n,
                a.number,
                a.name,
                a.unit,
                STATUS[a.status],
                "" if a.at_ms is None else f"{event.local(a.at_ms):%H:%M:%S}",
                a.station or "",
                note,
            ]
        )
    return header, rows


def daftar_hadir(board: Board, fmt: str, unit: str | None = None) -> bytes:
    event = board.event
    data = table(board, unit)
    if fmt == "csv":
        return export.to_csv(data)
    if fmt == "xlsx":
        return export.to_xlsx(data, "Daftar hadir")
    when = f"{event.local(event.starts_ms):%Y-%m-%d %H:%M}-{event.local(event.ends_ms):%H:%M}"
    subtitle = f"{when} · {event.venue} · hadir {board.present} / {board.expected}" + (
        f" · {unit}" if unit else ""
    )
    return export.to_pdf(data, f"Daftar hadir: {event.name}", subtitle, event.timezone)
