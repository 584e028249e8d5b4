"""The local board as a page for a TV at the venue (server-rendered, every text escaped, large
type, reloaded by a meta refresh: no JavaScript) and as JSON. Labels in Bahasa Indonesia."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from html import escape
from typing import Any

from presensi.device.board import WALK_IN_UNIT, BoardView, Person

MISSING_SHOWN = 600  # names of the "belum hadir" list on the page (all in the JSON)

_STYLE = """
body{margin:0;padding:2vw;background:#0b1d2a;color:#f3f6f8;font-family:sans-serif;
font-size:clamp(16px,1.6vw,40px)}
h1{font-size:2.2em;margin:0 0 .2em}
.state{color:#9fb7c7;margin-bottom:1em}
.count{font-size:4em;font-weight:bold;margin:.1em 0;white-space:nowrap}
@media (max-width:40rem){.count{font-size:2.6em}}
.cols{display:flex;gap:3vw;flex-wrap:wrap}
.cols>section{flex:1;min-width:18em}
table{border-collapse:collapse;width:100%}
td{padding:.15em .4em;border-bottom:1px solid #274457}
td.n{text-align:right}
.late{color:#ffb347;font-weight:bold}
.problem{background:#7a1f1f;padding:.4em}
ul{margin:0;padding-left:1.2em}
h3{margin:.6em 0 .2em;color:#9fb7c7}
"""


def _time(ms: int, zone: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%H.%M")


def _unit(unit: str) -> str:
    return "Tak terdaftar" if unit == WALK_IN_UNIT else unit


def render_html(view: BoardView, station: str, zone: zoneinfo.ZoneInfo, refresh_s: int) -> str:
    sheet = view.sheet
    title = "Papan hadir" if sheet is None else f"Papan hadir: {sheet.name}"
    parts = [
        "<!doctype html>",
        '<html lang="id"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
    ]
    if view.problem:
        parts.append(f'<p class="problem">{escape(view.problem)}</p>')
    if sheet is None or view.phase == "none":
        parts.append("<h1>Papan hadir</h1>")
        parts.append('<p class="state" id="state">Tidak ada acara yang aktif di stasiun ini.</p>')
    else:
        parts.append(f"<h1>{escape(sheet.name)}</h1>")
        if view.phase == "upcoming":
            state = f"Belum dibuka: dibuka pukul {_time(sheet.opens_ms, zone)}"
        elif view.phase == "open":
            state = (
                f"Sedang berlangsung: mulai {_time(sheet.starts_ms, zone)}, terlambat setelah "
                f"{_time(sheet.late_ms, zone)}, ditutup {_time(sheet.ends_ms, zone)}"
            )
        else:
            state = f"Sudah selesai pukul {_time(sheet.ends_ms, zone)}"
        parts.append(f'<p class="state" id="state">{escape(state)}</p>')
        parts.append(
            f'<p class="count" id="count">Hadir {view.present} / {view.expected}</p>'
            f"<p>Terlambat: {view.late} · Tak terdaftar: {view.walk_ins}</p>"
        )
        parts.append('<div class="cols">')
        parts.append(_units(view))
        parts.append(_latest(view, zone))
        parts.append(_missing(view))
        parts.append("</div>")
    parts.append(
        f'<p class="state">Stasiun {escape(station)}: hanya pindaian stasiun ini '
        f"(diperbarui setiap {int(refresh_s)} detik).</p></body></html>"
    )
    return "\n".join(parts)


def _units(view: BoardView) -> str:
    rows = "".join(
        f'<tr><td>{escape(_unit(u.unit))}</td><td class="n">{u.present}'
        + (f" / {u.expected}" if u.expected else "")  # walk-ins: none were expected
        + "</td></tr>"
        for u in view.units
    )
    return f'<section id="units"><h2>Per unit</h2><table>{rows}</table></section>'


def _latest(view: BoardView, zone: zoneinfo.ZoneInfo) -> str:
    items = []
    for a in view.latest:
        mark = ' <span class="late">terlambat</span>' if a.late else ""
        items.append(
            f"<li>{_time(a.at_ms, zone)} {escape(a.person.name)} "
            f"({escape(_unit(a.person.unit))}){mark}</li>"
        )
    body = "".join(items) or "<li>Belum ada yang hadir.</li>"
    return f'<section id="latest"><h2>Kedatangan terakhir</h2><ul>{body}</ul></section>'


def _missing(view: BoardView) -> str:
    label = "Tidak hadir" if view.phase == "ended" else "Belum hadir"
    out = [f'<section id="missing"><h2>{label} ({len(view.missing)})</h2>']
    unit: str | None = None
    for person in view.missing[:MISSING_SHOWN]:
        if person.unit != unit:
            if unit is not None:
                out.append("</ul>")
            unit = person.unit
            out.append(f"<h3>{escape(_unit(unit))}</h3><ul>")
        out.append(f"<li>{escape(person.name)}</li>")
    if unit is not None:
        out.append("</ul>")
    if len(view.missing) > MISSING_SHOWN:
        out.append(f"<p>... dan {len(view.missing) - MISSING_SHOWN} lainnya</p>")
    out.append("</section>")
    return "".join(out)


def _person(p: Person) -> dict[str, str]:
    return {"number": p.number, "name": p.name, "unit": p.unit}


def as_json(view: BoardView, station: str) -> dict[str, Any]:
    sheet = view.sheet
    out: dict[str, Any] = {"station": station, "phase": view.phase, "now_ms": view.now_ms}
    if view.problem:
        out["problem"] = view.problem
    if sheet is None:
        return out
    out.update(
        event=sheet.event,
        name=sheet.name,
        opens_ms=sheet.opens_ms,
        starts_ms=sheet.starts_ms,
        late_ms=sheet.late_ms,
        ends_ms=sheet.ends_ms,
        present=view.present,
        expected=view.expected,
        late=view.late,
        walk_ins=view.walk_ins,
        repeats=view.repeats,
        units=[{"unit": u.unit, "present": u.present, "expected": u.expected} for u in view.units],
        latest=[
            {**_person(a.person), "at_ms": a.at_ms, "late": a.late, "expected": a.expected}
            for a in view.latest
        ],
        missing=[_person(p) for p in view.missing],
    )
    return out
