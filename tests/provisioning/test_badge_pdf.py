"""The printed badge sheets: render the PDF that `presensi badge issue` writes to images with
pypdfium2 (a pip package: CI needs no poppler), decode every QR code on every page with
zxing-cpp, and verify each token with the org's keys; check the names are on the page as text
(pypdfium2's text API) and the geometry (card size, module size) of what is printed."""

from __future__ import annotations

from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from click.testing import CliRunner

from presensi.protocol import badge as badge_token
from presensi.protocol.cli import main
from presensi.protocol.keys import SigningKey
from presensi.protocol.reasons import Reason
from presensi.provisioning import badge_pdf
from presensi.provisioning.badges import Registry
from presensi.provisioning.employees import Employee, employees_csv, import_employees
from presensi.provisioning.org import Org

DPI = 150
PX_PER_MM = DPI / 25.4
# UTF-8 names as Indonesian employee lists have them (accents, apostrophes, long Balinese and
# Batak names that wrap); 13 people = 2 sheets, the second one part-filled
NAMES = [
    "Siti Nurhaliza",
    "Ma'ruf Hidayat",
    "Rénata Sitompul",
    "Ni Luh Putu Ayu Kartika Dewi",
    "I Gusti Ngurah Made Agung Wirabuana",
    "Muhammad Rizky Pratama Putra Siregar",
    "Dewi Lestari",
    "Agus Salim",
    "Yohanes Bosco Situmorang",
    "Ayu Ningsih",
    "Bambang Pamungkas",
    "Fransiska Wulandari",
    "Eko",
]
STAFF = [
    Employee(f"EMP-{i:05d}", name, "Pramudi (driver)" if i % 2 else "Teknik & Pemeliharaan", "A")
    for i, name in enumerate(NAMES, 1)
]


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Org, Path]:
    tmp = tmp_path_factory.mktemp("badge-pdf")
    org = Org.init(tmp / "org", "Perum Angkutan Kota Semarang")
    import_employees(org, employees_csv(STAFF).encode())
    out = tmp / "badges.pdf"
    result = CliRunner().invoke(
        main, ["badge", "issue", "--org", str(org.path), "--out", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return org, out


def pages(path: Path) -> list[tuple[list[zxingcpp.Barcode], str, tuple[float, float]]]:
    """Per page: the QR codes found in its image, its text, its size in mm."""
    document = pypdfium2.PdfDocument(path)
    try:
        out = []
        for page in document:
            image = page.render(scale=DPI / 72, grayscale=True).to_pil()
            codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            text = page.get_textpage().get_text_range()
            width, height = page.get_size()
            out.append((codes, text, (width / 72 * 25.4, height / 72 * 25.4)))
        return out
    finally:
        document.close()


def test_every_printed_code_decodes_and_verifies(printed: tuple[Org, Path]) -> None:
    org, out = printed
    sheets = pages(out)
    assert [len(codes) for codes, _, _ in sheets] == [10, 3]
    ring, revoked = org.key_ring(), org.revocations()
    with Registry.of(org) as registry:
        issued = {r.serial: r for r in registry.all()}
    seen = set()
    for codes, _, _ in sheets:
        for code in codes:
            assert code.ec_level == "M"
            verdict = badge_token.verify(code.text, ring, revoked, issued[1].valid_from + 60)
            assert verdict.reason is Reason.OK, code.text
            assert verdict.token is not None
            assert verdict.token.employee == issued[verdict.token.serial].employee
            seen.add(verdict.token.serial)
    assert seen == set(issued) == set(range(1, 14))


def test_the_page_carries_names_numbers_units_and_small_print(printed: tuple[Org, Path]) -> None:
    _, out = printed
    sheets = pages(out)
    text = " ".join(" ".join(t.split()) for _, t, _ in sheets)  # wrapped lines joined
    for person in STAFF:
        assert person.name in text
        assert person.number in text
    assert "Teknik & Pemeliharaan" in text
    assert "Perum Angkutan Kota Semarang" in text
    assert "No. seri 13" in text
    assert "Berlaku" in text
    for _, _, size in sheets:  # A4
        assert size == pytest.approx((210, 297), abs=0.1)


def test_codes_sit_in_their_cards_with_modules_of_at_least_0_6_mm(
    printed: tuple[Org, Path],
) -> None:
    _, out = printed
    codes, _, _ = pages(out)[0]
    for code in codes:
        token = badge_token.parse(code.text)
        modules = badge_pdf.make_qr(code.text).symbol_size(border=0)[0]
        pos = code.position
        width_px = abs(pos.top_right.x - pos.top_left.x)
        module_mm = width_px / modules / PX_PER_MM
        assert module_mm >= badge_pdf.MIN_MODULE_MM
        assert module_mm == pytest.approx(badge_pdf.module_size_mm(modules), rel=0.05)
        # the code lies inside the card of its serial (slot serial-1 on the first sheet)
        left, bottom = badge_pdf.card_position(token.serial - 1)
        x_mm = pos.top_left.x / PX_PER_MM
        y_mm = 297 - pos.top_left.y / PX_PER_MM  # image y runs downwards
        card_x, card_y = left / 72 * 25.4, bottom / 72 * 25.4
        assert card_x + badge_pdf.TEXT_W_MM < x_mm < card_x + badge_pdf.CARD_W_MM
        assert card_y < y_mm < card_y + badge_pdf.CARD_H_MM


def test_the_longest_token_still_has_modules_of_at_least_0_6_mm() -> None:
    key = SigningKey.from_seed(bytes(32))
    longest = badge_token.issue(key, "X" * 32, 2**32 - 1, 0, 2**32 - 1).to_text()
    qr = badge_pdf.make_qr(longest)
    assert qr.error == "M"
    modules = qr.symbol_size(border=0)[0]
    assert badge_pdf.module_size_mm(modules) >= badge_pdf.MIN_MODULE_MM
    # the sheet grid fits A4 and the cards are ID-1
    assert badge_pdf.COLUMNS * badge_pdf.CARD_W_MM <= 210 - 2 * 10
    assert badge_pdf.ROWS * badge_pdf.CARD_H_MM <= 297 - 2 * 10
    assert (badge_pdf.CARD_W_MM, badge_pdf.CARD_H_MM) == (85.6, 54.0)


def test_names_too_long_for_the_card_shrink_then_end_with_an_ellipsis() -> None:
    badge_pdf.register_fonts()
    width = badge_pdf.TEXT_W_MM * 72 / 25.4
    size, lines = badge_pdf._fit("Siti Nurhaliza", badge_pdf.FONT_BOLD, badge_pdf.NAME_STEPS, width)
    assert (size, lines) == (11.0, ["Siti Nurhaliza"])
    very_long = " ".join(["Mahendradatta"] * 12)
    size, lines = badge_pdf._fit(very_long, badge_pdf.FONT_BOLD, badge_pdf.NAME_STEPS, width)
    assert size == badge_pdf.NAME_STEPS[-1][0]
    assert len(lines) == badge_pdf.NAME_STEPS[-1][1]
    assert lines[-1].endswith("…")
    from reportlab.pdfbase.pdfmetrics import stringWidth

    assert all(stringWidth(line, badge_pdf.FONT_BOLD, size) <= width for line in lines)


def test_characters_without_a_glyph_are_reported() -> None:
    assert badge_pdf.unsupported_characters("Rénata Ma'ruf Sitompul") == set()
    assert badge_pdf.unsupported_characters("王小明") == {"王", "小", "明"}


def test_render_refuses_an_empty_batch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no cards"):
        badge_pdf.render_pdf(tmp_path / "x.pdf", [])


def test_the_same_cards_give_the_same_bytes() -> None:
    import io

    key = SigningKey.from_seed(bytes(32))
    tokens = [badge_token.issue(key, f"E{i}", i, 0, 10**9).to_text() for i in (1, 2, 3)]
    cards = [
        badge_pdf.Card("Pemkot", name, f"E{i}", "Dinas", i, token, 0, 10**9)
        for i, (name, token) in enumerate(zip(NAMES, tokens, strict=False), 1)
    ]
    first, second = io.BytesIO(), io.BytesIO()
    badge_pdf.render_pdf(first, cards)
    badge_pdf.render_pdf(second, cards)
    assert first.getvalue() == second.getvalue()
