"""A printable PDF of an attendance table (the monthly recap, a day's list): A4 landscape, the
header row repeated on every page, page numbers, when it was made, and lines to sign under
("Mengetahui"), as the paper rekap that a unit head signs for payroll. Written with reportlab's
platypus (the standard PDF library of the field); text is drawn as text, never interpreted.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

# DejaVu Sans covers every letter of Indonesian names (Latin Extended); Helvetica, built into
# every PDF reader, covers Latin-1 where DejaVu is not installed.
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_fonts: tuple[str, str] | None = None


def _font() -> tuple[str, str]:
    global _fonts  # noqa: PLW0603 (reportlab's font registry is process-wide too)
    if _fonts is None:
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont("RekapSans", str(regular)))
            pdfmetrics.registerFont(TTFont("RekapSans-Bold", str(bold)))
            _fonts = ("RekapSans", "RekapSans-Bold")
        else:
            _fonts = ("Helvetica", "Helvetica-Bold")
    return _fonts


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table_pdf(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str,
    subtitle: str,
    made: dt.datetime,
    signers: Sequence[str] = ("Mengetahui,", "Dibuat oleh,"),
) -> bytes:
    """The table as PDF bytes; long tables run over pages with the header repeated."""
    regular, bold = _font()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="Presensi",
    )
    text = ParagraphStyle("cell", fontName=regular, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", parent=text, fontName=bold)
    grid = [[Paragraph(_escape(h), head) for h in header]]
    grid += [[Paragraph(_escape(_cell(v)), text) for v in row] for row in rows]
    widths = _widths(header, rows, doc.width)
    table = Table(grid, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7ef")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7fa")]),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    story: list[Flowable] = [
        Paragraph(_escape(title), ParagraphStyle("t", fontName=bold, fontSize=13, leading=16)),
        Paragraph(_escape(subtitle), ParagraphStyle("s", fontName=regular, fontSize=9)),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 10 * mm),
        _signatures(signers, regular, doc.width),
    ]
    stamp = f"Dibuat {made:%Y-%m-%d %H:%M} {made.tzname() or ''}".rstrip()

    def footer(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.drawString(doc.leftMargin, 8 * mm, f"{title} · {stamp}")
        canvas.drawRightString(doc.leftMargin + doc.width, 8 * mm, f"Halaman {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _escape(text: str) -> str:
    """Paragraph text is a small markup language: make every character literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _widths(header: Sequence[str], rows: Sequence[Sequence[object]], total: float) -> list[float]:
    """Column widths by the longest text in each (names and units get room, counts little)."""
    longest = [len(h) for h in header]
    for row in rows[:500]:
        for i, value in enumerate(row):
            longest[i] = max(longest[i], len(_cell(value)))
    weights = [min(max(n, 3), 40) for n in longest]
    scale = total / sum(weights)
    return [w * scale for w in weights]


def _signatures(signers: Sequence[str], font: str, width: float) -> Table:
    style = ParagraphStyle("sig", fontName=font, fontSize=9, leading=12)
    cells = [
        Paragraph(f"{_escape(s)}<br/><br/><br/><br/>(....................................)", style)
        for s in signers
    ]
    return Table([cells], colWidths=[width / len(signers)] * len(signers))
