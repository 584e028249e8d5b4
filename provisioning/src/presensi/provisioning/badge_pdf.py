"""Printable badge sheets: ID-1 cards (85.6 x 54 mm, the size of a bank card) on A4, with cut marks.

Library: reportlab (the `provision` extra). It is the long-maintained standard for generating
PDF in Python: pure Python with optional C speed-ups, precise drawing in any unit, TrueType
embedding with subsetting (so Indonesian names in UTF-8 print and stay extractable as text), and
an `invariant` mode that makes the same input give the same bytes. fpdf2 would have done too;
reportlab's lower-level canvas is the better fit for a fixed card layout drawn thousands of
times, and its path API draws the QR code as vector rectangles.

QR codes are drawn as vector paths (one filled path of horizontal runs of dark modules per code),
not images: edges stay sharp at any printer resolution. The module size is snapped to whole dots
of a 600 dpi printer, so every module prints equally wide.

Sheet layout: 2 columns x 5 rows of cards, butted against each other (one guillotine cut
separates two cards), the grid centred on the page; cut marks in the page margin extend every
grid line; a light hairline outlines each card for cutting with scissors; the bottom margin has a
50 mm check line (printing with "fit to page" shrinks the codes).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

# ID-1 (ISO/IEC 7810) card
CARD_W_MM = 85.6
CARD_H_MM = 54.0
COLUMNS = 2
ROWS = 5
CARDS_PER_PAGE = COLUMNS * ROWS
PAGE_W_MM = A4[0] / mm
PAGE_H_MM = A4[1] / mm
GRID_X_MM = (PAGE_W_MM - COLUMNS * CARD_W_MM) / 2  # 19.4 mm left and right
GRID_Y_MM = (PAGE_H_MM - ROWS * CARD_H_MM) / 2  # 13.5 mm top and bottom

# The QR code. Error correction M (15 % of the codewords may be lost: glare, a scratch), as in
# docs/protocol.md, which gives version 6 (41 modules) for a 9-character employee number and
# version 7 (45) for long ones. A quiet zone of 4 modules (the standard's) is kept white.
QR_ERROR = "m"
QUIET_ZONE = 4
QR_BOX_MM = 50.0  # the square, quiet zone included, at the card's right, 2 mm from its edges
CARD_PAD_MM = 2.0
PRINTER_DOT_MM = 25.4 / 600
# Minimum module size. What it means for reading (hardware/README.md: Camera Module 3, about 66
# degrees horizontal field of view, so the image is 1.30 x the distance wide; zxing-cpp needs 2
# camera pixels per module at the least, 3 comfortably): at 640x480 a module of m mm is 3 pixels
# up to 640 * m / (3 * 1.30) = 164 * m mm away, 2 pixels up to 246 * m mm. At the floor of
# 0.6 mm that is about 10 cm comfortable and 15 cm at the limit: right at the camera's closest
# focus (about 10 cm), so 0.6 mm is a floor, not a target. This layout gives 0.93 mm (version 7)
# to 1.02 mm (version 6): a 42 mm code, read comfortably at 640x480 up to about 15-17 cm (23-25 cm
# at the limit), and at 1280x960 up to about 30-33 cm: arm's length needs 1280x960.
MIN_MODULE_MM = 0.6

# Text: the names are printed as given (UTF-8). DejaVu Sans covers Latin Extended (every letter
# an Indonesian name uses, including the rare diacritics); Bitstream Vera, shipped inside
# reportlab, is the fallback where DejaVu is not installed and covers Latin-1.
FONT = "PresensiSans"
FONT_BOLD = "PresensiSans-Bold"
_FONT_FILES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
    (
        Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
        Path("/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ),
)
# card labels, in Bahasa Indonesia: the cardholders read them
LABEL_SERIAL = "No. seri"
LABEL_VALID = "Berlaku"
LABEL_UNTIL = "s.d."

# the name: as large as fits, more lines at smaller sizes (a 5-word Balinese or Batak name fits)
NAME_STEPS = ((11.0, 2), (10.0, 2), (9.0, 3), (8.0, 3), (7.5, 4), (7.0, 4))

TEXT_X_MM = 3.0
TEXT_W_MM = CARD_W_MM - CARD_PAD_MM - QR_BOX_MM - TEXT_X_MM  # 30.6 mm


@dataclass(frozen=True)
class Card:
    """What one card shows. `valid_until` is exclusive, as in the token: the card prints the
    last valid day."""

    organisation: str
    name: str
    number: str
    unit: str
    serial: int
    token: str
    valid_from: int
    valid_until: int
    timezone: str = "Asia/Jakarta"


@dataclass(frozen=True)
class SheetStats:
    cards: int
    pages: int
    min_module_mm: float
    max_qr_version: int
    font_file: str


def module_size_mm(modules: int) -> float:
    """The module size for a code `modules` wide: as large as the QR box allows, in whole
    600 dpi printer dots."""
    fit = QR_BOX_MM / (modules + 2 * QUIET_ZONE)
    return int(fit / PRINTER_DOT_MM) * PRINTER_DOT_MM


def make_qr(token: str) -> segno.QRCode:
    """The QR code of a token: level M exactly (no boosting), never a Micro QR."""
    return segno.make(token, error=QR_ERROR, boost_error=False, micro=False)


def _dark_runs(matrix: Sequence[Sequence[int]]) -> Iterable[tuple[int, int, int]]:
    """(row, first column, length) of every horizontal run of dark modules."""
    for r, row in enumerate(matrix):
        start = -1
        for c, value in enumerate(row):
            if value and start < 0:
                start = c
            elif not value and start >= 0:
                yield r, start, c - start
                start = -1
        if start >= 0:
            yield r, start, len(row) - start


def draw_qr(canvas: Canvas, token: str, x: float, y: float) -> tuple[float, int]:
    """Draw the code of `token` with its quiet zone's lower-left corner at (x, y) points, as one
    vector path. Returns (module size in mm, QR version)."""
    qr = make_qr(token)
    matrix = qr.matrix
    n = len(matrix)
    module_mm = module_size_mm(n)
    if module_mm < MIN_MODULE_MM:  # cannot happen for v1 tokens (at most version 8)
        raise ValueError(f"QR version {qr.version} is too large for the card")
    m = module_mm * mm
    # centred in the box (the snap leaves a fraction of a millimetre)
    offset = (QR_BOX_MM * mm - n * m) / 2
    top = y + offset + n * m
    path = canvas.beginPath()
    for r, c, length in _dark_runs(matrix):
        path.rect(x + offset + c * m, top - (r + 1) * m, length * m, m)
    canvas.drawPath(path, stroke=0, fill=1)
    version = qr.version
    return module_mm, version if isinstance(version, int) else 0


_registered: str | None = None


def register_fonts() -> str:
    """Register the card font (once per process); returns the regular font's file."""
    global _registered  # noqa: PLW0603 (reportlab's font registry is process-wide too)
    if _registered is None:
        regular, bold = _font_files()
        pdfmetrics.registerFont(TTFont(FONT, str(regular)))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold)))
        _registered = str(regular)
    return _registered


def _font_files() -> tuple[Path, Path]:
    for regular, bold in _FONT_FILES:
        if regular.is_file() and bold.is_file():
            return regular, bold
    import reportlab

    fonts = Path(reportlab.__file__).parent / "fonts"
    return fonts / "Vera.ttf", fonts / "VeraBd.ttf"


def unsupported_characters(text: str) -> set[str]:
    """Characters of `text` the card font has no glyph for (printed as empty boxes)."""
    register_fonts()
    font = pdfmetrics.getFont(FONT)
    glyphs = font.face.charToGlyph  # type: ignore[attr-defined]
    return {ch for ch in text if not ch.isspace() and ord(ch) not in glyphs}


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap; a word wider than the line is broken by characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if pdfmetrics.stringWidth(candidate, font, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if pdfmetrics.stringWidth(line + ch, font, size) > width and line:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _fit(
    text: str, font: str, steps: Sequence[tuple[float, int]], width: float
) -> tuple[float, list[str]]:
    """The first (size, most lines) step at which `text` wraps into that many lines; at the
    last step the last line is cut with an ellipsis."""
    for size, max_lines in steps:
        lines = _wrap(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
    size, max_lines = steps[-1]
    lines = _wrap(text, font, size, width)[:max_lines]
    last = lines[-1]
    while last and pdfmetrics.stringWidth(last + "…", font, size) > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return size, lines


def _local_date(unix: int, zone: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(unix, zone).strftime("%d-%m-%Y")


def draw_card(canvas: Canvas, card: Card, x: float, y: float) -> tuple[float, int]:
    """Draw one card with its lower-left corner at (x, y) points."""
    width = TEXT_W_MM * mm
    left = x + TEXT_X_MM * mm
    cursor = y + (CARD_H_MM - 4.5) * mm  # first baseline

    def lines(texts: Sequence[str], font: str, size: float, gap: float = 1.18) -> None:
        nonlocal cursor
        canvas.setFont(font, size)
        for text in texts:
            canvas.drawString(left, cursor, text)
            cursor -= size * gap

    size, org_lines = _fit(card.organisation, FONT_BOLD, ((6.5, 2), (6, 2), (5.5, 3)), width)
    lines(org_lines, FONT_BOLD, size)
    cursor -= 1.2 * mm
    canvas.setLineWidth(0.4)
    canvas.line(left, cursor + 2.2 * mm, left + width, cursor + 2.2 * mm)
    cursor -= 1.5 * mm

    size, name_lines = _fit(card.name, FONT_BOLD, NAME_STEPS, width)
    cursor -= size - 8  # a larger name needs a lower first baseline
    lines(name_lines, FONT_BOLD, size, 1.12)
    cursor -= 1.0 * mm
    size, number_lines = _fit(card.number, FONT, ((9.5, 1), (8.5, 1), (7.5, 1), (6.5, 2)), width)
    lines(number_lines, FONT, size)
    size, unit_lines = _fit(card.unit, FONT, ((7.5, 2), (7, 2), (6.5, 3)), width)
    lines(unit_lines, FONT, size)

    zone = zoneinfo.ZoneInfo(card.timezone)
    last_day = _local_date(card.valid_until - 1, zone)
    small = [
        f"{LABEL_SERIAL} {card.serial}",
        f"{LABEL_VALID} {_local_date(card.valid_from, zone)}",
        f"{LABEL_UNTIL} {last_day}",
    ]
    canvas.setFont(FONT, 5.5)
    for i, text in enumerate(reversed(small)):
        canvas.drawString(left, y + (3.0 + i * 2.3) * mm, text)

    box_x = x + (CARD_W_MM - CARD_PAD_MM - QR_BOX_MM) * mm
    box_y = y + (CARD_H_MM - QR_BOX_MM) / 2 * mm
    return draw_qr(canvas, card.token, box_x, box_y)


def _cut_marks(canvas: Canvas) -> None:
    canvas.setLineWidth(0.3)
    canvas.setStrokeGray(0)
    x0, y0 = GRID_X_MM * mm, GRID_Y_MM * mm
    x1, y1 = x0 + COLUMNS * CARD_W_MM * mm, y0 + ROWS * CARD_H_MM * mm
    gap, length = 2 * mm, 6 * mm
    for col in range(COLUMNS + 1):
        x = x0 + col * CARD_W_MM * mm
        canvas.line(x, y1 + gap, x, y1 + gap + length)
        canvas.line(x, y0 - gap, x, y0 - gap - length)
    for row in range(ROWS + 1):
        y = y0 + row * CARD_H_MM * mm
        canvas.line(x0 - gap, y, x0 - gap - length, y)
        canvas.line(x1 + gap, y, x1 + gap + length, y)


def _outlines(canvas: Canvas) -> None:
    canvas.setLineWidth(0.2)
    canvas.setStrokeGray(0.75)
    for col in range(COLUMNS):
        for row in range(ROWS):
            canvas.rect(
                (GRID_X_MM + col * CARD_W_MM) * mm,
                (GRID_Y_MM + row * CARD_H_MM) * mm,
                CARD_W_MM * mm,
                CARD_H_MM * mm,
            )
    canvas.setStrokeGray(0)


def _footer(canvas: Canvas, text: str) -> None:
    canvas.setFont(FONT, 6)
    canvas.setFillGray(0.3)
    canvas.drawString(GRID_X_MM * mm, 4 * mm, text)
    right = (PAGE_W_MM - GRID_X_MM) * mm
    canvas.setLineWidth(0.5)
    canvas.line(right - 50 * mm, 5 * mm, right, 5 * mm)
    canvas.drawRightString(right, 2.2 * mm, "print at 100 %: this line must be 50 mm")
    canvas.setFillGray(0)


def card_position(index: int) -> tuple[float, float]:
    """Lower-left corner (points) of the card at `index` on its page, row by row from the top."""
    slot = index % CARDS_PER_PAGE
    col, row = slot % COLUMNS, slot // COLUMNS
    return (
        (GRID_X_MM + col * CARD_W_MM) * mm,
        (GRID_Y_MM + (ROWS - 1 - row) * CARD_H_MM) * mm,
    )


def render_pdf(
    out: str | Path | BinaryIO,
    cards: Sequence[Card],
    *,
    title: str = "Presensi badges",
    outlines: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SheetStats:
    """Write `cards` as A4 sheets of 10. `progress(n)` is called after every n cards drawn."""
    if not cards:
        raise ValueError("no cards to print")
    font_file = register_fonts()
    target = str(out) if isinstance(out, Path) else out
    canvas = Canvas(target, pagesize=A4, invariant=True, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor("presensi badge")
    canvas.setCreator("presensi")
    pages = (len(cards) + CARDS_PER_PAGE - 1) // CARDS_PER_PAGE
    min_module = float("inf")
    max_version = 0
    for page in range(pages):
        chunk = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
        if outlines:
            _outlines(canvas)
        _cut_marks(canvas)
        for index, card in enumerate(chunk):
            module_mm, version = draw_card(canvas, card, *card_position(index))
            min_module = min(min_module, module_mm)
            max_version = max(max_version, version)
        first = page * CARDS_PER_PAGE + 1
        where = f"cards {first}-{first + len(chunk) - 1} of {len(cards)}"
        _footer(canvas, f"{chunk[0].organisation} · sheet {page + 1} of {pages} · {where}")
        canvas.showPage()
        if progress is not None:
            progress(len(chunk))
    canvas.save()
    return SheetStats(len(cards), pages, min_module, max_version, font_file)
