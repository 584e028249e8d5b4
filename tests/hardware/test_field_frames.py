"""The field generator: held-out frames, deterministic per seed, with the split kept apart."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from presensi.hardware.field_frames import (
    EVALUATION_SEEDS,
    FIELD_CONDITIONS,
    TUNING_SEEDS,
    FieldCondition,
    PrintSettings,
    jpeg,
    render_field_empty,
    render_field_frame,
    split_seeds,
)


def test_the_two_splits_never_share_a_seed() -> None:
    assert set(TUNING_SEEDS).isdisjoint(EVALUATION_SEEDS)
    assert split_seeds("tuning", 5)[0] in TUNING_SEEDS
    assert split_seeds("evaluation", 5, offset=10)[-1] in EVALUATION_SEEDS
    with pytest.raises(ValueError, match="tuning"):
        split_seeds("train", 5)


@pytest.mark.parametrize("condition", FIELD_CONDITIONS)
def test_each_condition_is_deterministic_per_seed(condition: FieldCondition) -> None:
    a = render_field_frame(7, condition)
    b = render_field_frame(7, condition)
    c = render_field_frame(8, condition)
    assert a.frame.dtype == np.uint8 and a.frame.shape == (a.size[1], a.size[0])
    assert np.array_equal(a.frame, b.frame) and a.text == b.text
    assert not np.array_equal(a.frame, c.frame) or a.size != c.size


def test_frames_come_in_both_sizes_and_the_station_distance() -> None:
    frames = [render_field_frame(s, FieldCondition.TYPICAL) for s in range(12)]
    assert {f.size for f in frames} == {(640, 480), (1280, 720)}
    assert all(100 <= f.distance_mm <= 220 for f in frames)
    assert all(f.jpeg_quality is not None and 60 <= f.jpeg_quality <= 90 for f in frames)


def test_typical_frames_decode_and_empty_frames_hold_no_code() -> None:
    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    frames = [render_field_frame(s, FieldCondition.TYPICAL) for s in range(4)]
    assert all(
        f.text in [b.text for b in zxingcpp.read_barcodes(f.frame, formats=formats)] for f in frames
    )
    assert all(not zxingcpp.read_barcodes(render_field_empty(s), formats=formats) for s in range(4))


def test_print_settings_follow_the_provisioning_rule() -> None:
    # 45 modules (version 7) in a 50 mm box: 0.93 mm modules in 600 dpi dots
    assert PrintSettings().module_mm(45) == pytest.approx(0.931, abs=0.001)
    assert PrintSettings("h").module_mm(57) < PrintSettings("m").module_mm(45)
    text = render_field_frame(1, FieldCondition.TYPICAL).text
    assert PrintSettings("h").code_mm(text) == pytest.approx(
        PrintSettings().code_mm(text), rel=0.05
    )


def test_a_higher_error_correction_level_prints_a_denser_code() -> None:
    m = render_field_frame(3, FieldCondition.TYPICAL)
    h = render_field_frame(3, FieldCondition.TYPICAL, PrintSettings("h"))
    assert m.text == h.text and not np.array_equal(m.frame, h.frame)


def test_jpeg_round_trip_keeps_the_shape() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    out = jpeg(frame, 30)
    assert out.shape == frame.shape and out.dtype == np.uint8 and not np.array_equal(out, frame)
