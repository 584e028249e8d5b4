"""Reading a QR code from its module grid (`qr_grid`): the retry for damaged finder patterns.

Frames are drawn here or come from the field generator's *tuning* split (never evaluation)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import segno
import zxingcpp
from PIL import Image, ImageDraw

from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hardware.field_frames import FieldCondition, render_field_frame, split_seeds
from presensi.hardware.qr_grid import (
    ALIGNMENT_CENTRES,
    find_finders,
    function_patterns,
    modules_dark,
    pure,
    read_grids,
    search_pixels,
)

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
TEXT = "PRS1:EMP-00042:TRANS-SEMARANG:GRID"


def read_pure(img: np.ndarray) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(img, formats=QR, is_pure=True) if b.valid]


def plain(frame: np.ndarray) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(frame, formats=QR) if b.valid]


def code_frame(
    text: str = TEXT, *, scale: int = 5, angle: float = 17.0, size: tuple[int, int] = (640, 480)
) -> tuple[np.ndarray, int, Image.Image]:
    """A level-M code on a light card, turned by `angle`, in a grey frame:
    (frame, modules a side, the frame as an image to draw on)."""
    qr = segno.make_qr(text, error="m", boost_error=False)
    modules = np.array(qr.matrix, dtype=bool)
    n = modules.shape[0]
    card = np.pad(np.where(modules, 30, 215).astype(np.uint8), 4, constant_values=215)
    img = Image.fromarray(np.kron(card, np.ones((scale, scale), np.uint8)))
    img = img.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=120)
    frame = Image.new("L", size, 120)
    frame.paste(img, ((size[0] - img.size[0]) // 2, (size[1] - img.size[1]) // 2))
    return np.asarray(frame).copy(), n, frame


@pytest.mark.parametrize("version", sorted(ALIGNMENT_CENTRES))
def test_function_patterns_are_those_of_real_codes(version: int) -> None:
    # finder, separator, timing and alignment patterns, the dark module and the version
    # blocks, as segno draws them, for every version the module handles
    fixed, dark = function_patterns(17 + 4 * version)
    for text in ("A", "PRS1:" + "X" * 40):
        try:
            qr = segno.make_qr(text, error="l", version=version, boost_error=False)
        except ValueError:  # the text does not fit this version
            continue
        matrix = np.array(qr.matrix, dtype=bool)
        assert matrix.shape == fixed.shape
        assert (matrix[fixed] == dark[fixed]).all()


def test_the_grid_of_a_clean_code_reads_back_through_a_pure_image() -> None:
    matrix = np.array(segno.make_qr(TEXT, error="m").matrix, dtype=bool)
    grey = np.where(matrix, 40.0, 200.0)
    assert (modules_dark(grey) == matrix).all()
    assert read_pure(pure(modules_dark(grey))) == [TEXT]


def test_finders_of_a_turned_code_are_found_at_their_centres() -> None:
    frame, n, _ = code_frame()
    found = find_finders(frame)
    assert len(found) >= 3
    top3 = found[:3]
    modules = [f.module for f in top3]
    assert max(modules) < 1.6 * 5 and min(modules) > 0.8 * 5  # 5 pixels a module
    # the three centres make a right angle with legs n - 7 modules long
    pts = np.array([(f.x, f.y) for f in top3])
    legs = sorted(np.hypot(*(pts[i] - pts[j])) for i, j in ((0, 1), (0, 2), (1, 2)))
    assert legs[0] == pytest.approx((n - 7) * 5, rel=0.05)
    assert legs[2] == pytest.approx(legs[0] * np.sqrt(2), rel=0.05)


def test_a_code_with_a_finder_under_a_thumb_is_read() -> None:
    # the top-right finder pattern under a blob of skin: zxing-cpp finds no symbol, the grid
    # from the two finders left places the third, and error correction restores the data
    # the thumb covered
    frame, n, image = code_frame(angle=0)
    left = (640 - (n + 8) * 5) // 2 + 4 * 5
    top = (480 - (n + 8) * 5) // 2 + 4 * 5
    right = left + n * 5
    ImageDraw.Draw(image).ellipse((right - 45, top - 20, right + 25, top + 35), fill=170)
    frame = np.asarray(image).copy()
    assert plain(frame) == []
    assert read_grids(frame, read_pure) == [TEXT]


def test_a_highlight_over_a_finder_is_read() -> None:
    frame, n, _ = code_frame(angle=-8)
    h, w = frame.shape
    ys, xs = np.mgrid[0:h, 0:w]
    # a specular highlight centred on the top-left finder: whites clip, blacks wash out
    cx, cy = w / 2 - (n / 2 - 3.5) * 5, h / 2 - (n / 2 - 3.5) * 5
    glare = 260 * np.exp(-(((xs - cx) / 38) ** 2 + ((ys - cy) / 30) ** 2))
    lit = np.clip(frame + glare, 0, 255).astype(np.uint8)
    assert plain(lit) == []
    assert read_grids(lit, read_pure) == [TEXT]


@pytest.mark.parametrize(
    ("index", "condition"),
    [(2, FieldCondition.GLARE), (3, FieldCondition.GLARE), (57, FieldCondition.THUMB)],
)
def test_the_grid_step_reads_tuning_frames_the_other_steps_miss(
    index: int, condition: FieldCondition
) -> None:
    ff = render_field_frame(split_seeds("tuning", index + 1)[index], condition)
    others = ["unskew", "region_sharpen_double", "located_unsharp", "located_enlarge"]
    # a generous budget: what is tested is the step, not how busy the test machine is
    assert ff.text not in ZxingDecoder(steps=others, budget_ms=1000).decode(ff.frame)
    assert ZxingDecoder(steps=["located_grid"], budget_ms=1000).decode(ff.frame) == [ff.text]


def test_finder_look_alikes_without_a_code_read_nothing() -> None:
    # three finder patterns where a code's would be, and noise between: a grid is fitted,
    # and what it samples fails the code's error correction
    rng = np.random.default_rng(14)
    frame, n, _ = code_frame(angle=0)
    left = (640 - (n + 8) * 5) // 2 + 4 * 5
    top = (480 - (n + 8) * 5) // 2 + 4 * 5
    inside = (slice(top + 8 * 5, top + (n - 8) * 5), slice(left + 8 * 5, left + (n - 8) * 5))
    noisy = frame.copy()
    noisy[inside] = np.where(rng.random(noisy[inside].shape) < 0.5, 30, 215)
    assert read_grids(noisy, read_pure) == []
    checker = (np.indices((480, 640)).sum(axis=0) // 6 % 2 * 180 + 30).astype(np.uint8)
    assert read_grids(checker, read_pure) == []


@pytest.mark.parametrize(("module", "size"), [(2, (640, 480)), (3, (640, 480)), (4, (1280, 720))])
def test_a_frame_full_of_finder_patterns_is_given_up_at_once(
    module: int, size: tuple[int, int]
) -> None:
    # wallpaper of finder patterns (or a sheet of printed badges): thousands of 1:1:3:1:1
    # crossings. Matching them all took 1-3 s and most of a gigabyte; past a bound the frame
    # is taken for clutter
    finder = np.pad(function_patterns(21)[1][:8, :8], ((0, 1), (0, 1)))
    tiles = np.tile(finder, (size[1] // (9 * module) + 1, size[0] // (9 * module) + 1))
    wall = np.kron(tiles, np.ones((module, module), bool))[: size[1], : size[0]]
    frame = np.where(wall, 20, 220).astype(np.uint8)
    start = time.perf_counter()
    assert find_finders(frame) == []
    assert read_grids(frame, read_pure) == []
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((3, 700), np.uint8),
        np.full((63, 63), 255, np.uint8),
        np.full((480, 640), 128, np.uint8),
        np.random.default_rng(1).integers(0, 256, (721, 1283), dtype=np.uint8),
        np.full((4000, 64), 200, np.uint8),
    ],
    ids=["empty", "a line", "tiny", "flat", "noise, odd size", "tall and thin"],
)
def test_frames_without_a_code_give_nothing(frame: np.ndarray) -> None:
    assert read_grids(frame, read_pure) == []


def test_a_wide_frame_is_searched_at_half_size() -> None:
    assert search_pixels((480, 640)) == 480 * 640
    assert search_pixels((720, 1280)) == 360 * 640
