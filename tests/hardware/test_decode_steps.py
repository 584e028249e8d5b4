"""The zxing-cpp decoder's retry steps: each reads a kind of frame the plain call misses.

The frames come from the field generator's *tuning* split (never the evaluation split)."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import segno
from PIL import Image

from presensi.hardware.decode_steps import (
    Quad,
    _homography,
    normalise,
    rectify,
    region,
    stretch,
    unskew,
)
from presensi.hardware.decoder_zxing import DEFAULT_STEPS, STEPS, ZxingDecoder
from presensi.hardware.field_frames import FieldCondition, render_field_frame, split_seeds


def tuning_frame(index: int, condition: FieldCondition) -> tuple[str, np.ndarray]:
    ff = render_field_frame(split_seeds("tuning", index + 1)[index], condition)
    return ff.text, ff.frame


@pytest.mark.parametrize(
    ("step", "index", "condition"),
    [
        ("unskew", 11, FieldCondition.TILT),  # steep tilt: zxing-cpp misjudges the symbol size
        ("unskew", 22, FieldCondition.TILT),
        ("region_sharpen_double", 25, FieldCondition.DEFOCUS),  # a soft code at 640x480
        ("located_unsharp", 7, FieldCondition.DEFOCUS),  # blur near half a module, 1280x720
        ("located_enlarge", 4, FieldCondition.DEFOCUS),
        ("located_grid", 57, FieldCondition.THUMB),  # a thumb over a finder pattern
    ],
)
def test_each_kept_step_reads_a_frame_the_plain_call_misses(
    step: str, index: int, condition: FieldCondition
) -> None:
    text, frame = tuning_frame(index, condition)
    assert text not in ZxingDecoder(retries=False).decode(frame)
    # a generous budget: what is tested is the step, not how busy the test machine is
    assert ZxingDecoder(steps=[step], budget_ms=1000).decode(frame) == [text]
    assert ZxingDecoder(budget_ms=1000).decode(frame) == [text]


def test_the_default_steps_are_named_steps() -> None:
    assert set(DEFAULT_STEPS) <= set(STEPS)
    with pytest.raises(ValueError, match="unknown decoder steps"):
        ZxingDecoder(steps=["unskew", "magic"])


def test_no_budget_means_no_retries() -> None:
    _, frame = tuning_frame(11, FieldCondition.TILT)
    assert ZxingDecoder(budget_ms=0).decode(frame) == []


def test_a_step_that_would_overrun_the_budget_is_skipped() -> None:
    # what a step took on earlier frames says whether it still fits: a step known to take
    # longer than the budget does not start, so the scan loop is never held past it
    text, frame = tuning_frame(7, FieldCondition.DEFOCUS)
    decoder = ZxingDecoder(steps=["located_unsharp"], budget_ms=30)
    assert decoder.decode(frame) == [text]
    decoder._cost["located_unsharp"] = 1.0  # a second a pixel: far over any budget
    start = time.perf_counter()
    assert decoder.decode(frame) == []
    assert time.perf_counter() - start < 0.03


def test_a_skipped_step_is_tried_again_later() -> None:
    # an estimate inflated by a burst of load decays with each skip: the step comes back
    text, frame = tuning_frame(7, FieldCondition.DEFOCUS)
    decoder = ZxingDecoder(steps=["located_unsharp"], budget_ms=1000)
    decoder._cost["located_unsharp"] = 4.0 / frame.size  # 4 s a frame: over the budget
    reads = [decoder.decode(frame) == [text] for _ in range(30)]
    assert not reads[0] and reads[-1]


def warped_code(text: str, corners: Quad, size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """A code (quiet zone included) warped so its symbol's corners land on `corners`."""
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=6, border=0)
    code = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    side = code.size[0]
    h = _homography(
        np.array(corners, float), np.array([[0, 0], [side, 0], [side, side], [0, side]], float)
    )
    coeffs = tuple(float(c) for c in (h / h[2, 2]).reshape(-1)[:8])
    warped = code.transform(size, Image.Transform.PERSPECTIVE, coeffs, fillcolor=235)
    return np.asarray(warped)


def test_rectify_maps_a_symbol_upright_from_its_corners() -> None:
    corners: Quad = ((120.0, 60.0), (380.0, 100.0), (350.0, 300.0), (140.0, 260.0))
    frame = warped_code("PRS1:RECTIFY", corners)
    upright = rectify(frame, corners)
    assert upright is not None
    inner = upright[
        upright.shape[0] // 6 : -upright.shape[0] // 6,
        upright.shape[1] // 6 : -upright.shape[1] // 6,
    ]
    assert inner.min() < 60 and inner.max() > 180  # the symbol fills the square
    assert ZxingDecoder(retries=False).decode(upright) == ["PRS1:RECTIFY"]


def test_unskew_squares_the_top_left_corner() -> None:
    # a symbol sheared (a parallelogram) and located too small: unskew still covers all of it
    corners: Quad = ((100.0, 80.0), (300.0, 120.0), (330.0, 300.0), (130.0, 260.0))
    frame = warped_code("PRS1:UNSKEW", corners)
    located_small: Quad = ((100.0, 80.0), (200.0, 100.0), (215.0, 190.0), (115.0, 170.0))
    square = unskew(frame, located_small)
    assert square is not None
    assert ZxingDecoder(retries=False).decode(square) == ["PRS1:UNSKEW"]


def test_steps_refuse_degenerate_symbols() -> None:
    frame = np.full((100, 100), 128, np.uint8)
    point: Quad = ((10.0, 10.0), (10.0, 10.0), (10.0, 10.0), (10.0, 10.0))
    line: Quad = ((0.0, 0.0), (60.0, 0.0), (90.0, 0.0), (30.0, 0.0))
    assert region(frame, point) is None
    assert unskew(frame, point) is None and unskew(frame, line) is None
    assert rectify(frame, point) is None


def test_stretch_spreads_a_dim_frame() -> None:
    dim = np.random.default_rng(0).integers(20, 60, (40, 40), dtype=np.uint8)
    out = stretch(dim)
    assert out.min() == 0 and out.max() == 255 and out.dtype == np.uint8


def test_normalise_evens_out_a_light_gradient() -> None:
    xs = np.linspace(20, 220, 96, dtype=np.float32)
    ramp = np.tile(xs, (64, 1))
    checker = (np.indices((64, 96)).sum(axis=0) // 8 % 2) * 30  # 30 levels of contrast
    out = normalise(np.clip(ramp + checker, 0, 255).astype(np.uint8))
    assert out.shape == (64, 96) and out.dtype == np.uint8
    dark, light = out[:, 8:40], out[:, 56:88]  # the same pattern under little and much light
    assert abs(float(dark.mean()) - float(light.mean())) < 12


def test_whole_frame_retries_only_on_frames_up_to_1280x720() -> None:
    text, frame = tuning_frame(7, FieldCondition.DEFOCUS)  # 1280x720: the cap itself
    decoder = ZxingDecoder(steps=["located_unsharp"], budget_ms=1000)
    ran: list[tuple[int, ...]] = []
    name, step = decoder._located_steps[0]
    decoder._located_steps = [(name, lambda f: ran.append(f.shape) or step(f))]
    assert decoder.decode(frame) == [text]
    big = np.zeros((900, 1600), np.uint8)  # a larger frame: the located region pasted in
    big[90:810, 160:1440] = frame
    decoder.decode(big)
    assert ran == [frame.shape]
