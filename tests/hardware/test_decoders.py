"""The same decoder tests run over every backend (zxing-cpp and zbar)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from presensi.hardware.backends import DECODERS
from presensi.hardware.camera_sim import (
    Condition,
    render_badge_frame,
    render_empty_frame,
    sample_badge_text,
)
from presensi.hardware.decoder import Decoder
from presensi.hardware.decoder_zxing import ZxingDecoder, box3, double, half, sharpen
from presensi.hardware.errors import BackendNotFound


@pytest.fixture(params=DECODERS.names)
def decoder(request: pytest.FixtureRequest) -> Decoder:
    return DECODERS.make(request.param)


def qr_frame(
    text: str, *, scale: int = 4, invert: bool = False, size: tuple[int, int] = (640, 480)
) -> np.ndarray:
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=scale, border=4)
    code = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    frame = np.full((size[1], size[0]), 170, np.uint8)
    y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
    frame[y : y + code.shape[0], x : x + code.shape[1]] = code
    return 255 - frame if invert else frame


def test_decodes_a_badge_token(decoder: Decoder) -> None:
    text = sample_badge_text(np.random.default_rng(1), "BUS-00123")
    assert decoder.decode(qr_frame(text)) == [text]


def test_decodes_unicode_text(decoder: Decoder) -> None:
    assert decoder.decode(qr_frame("Presensi Halte Terboyo — selamat pagi", scale=3)) == [
        "Presensi Halte Terboyo — selamat pagi"
    ]


def test_two_codes_in_one_frame(decoder: Decoder) -> None:
    left, right = qr_frame("PRS1:LEFT", size=(320, 480)), qr_frame("PRS1:RIGHT", size=(320, 480))
    assert sorted(decoder.decode(np.hstack([left, right]))) == ["PRS1:LEFT", "PRS1:RIGHT"]


def test_empty_and_flat_frames_give_nothing(decoder: Decoder) -> None:
    rng = np.random.default_rng(3)
    frames = [np.zeros((480, 640), np.uint8), np.full((480, 640), 255, np.uint8)]
    frames += [render_empty_frame(rng) for _ in range(30)]
    assert [decoder.decode(f) for f in frames] == [[]] * len(frames)


def test_clean_simulated_station_frames(decoder: Decoder) -> None:
    rng = np.random.default_rng(4)
    texts = [sample_badge_text(rng) for _ in range(5)]
    assert [decoder.decode(render_badge_frame(t, rng, Condition.CLEAN)) for t in texts] == [
        [t] for t in texts
    ]


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 120), st.integers(1, 160))))
def test_any_image_content_returns_a_list_of_strings(frame: np.ndarray) -> None:
    for name in DECODERS.names:
        texts = DECODERS.make(name).decode(np.ascontiguousarray(frame))
        assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(BackendNotFound, match="zbar, zxing"):
        DECODERS.make("opencv")


# -- the zxing retry pipeline --------------------------------------------------------------


def test_dark_mode_phone_screen_decodes_with_zxing() -> None:
    # light modules on a dark screen: zxing-cpp tries the inverted image itself
    assert ZxingDecoder().decode(qr_frame("PRS1:DARK", invert=True)) == ["PRS1:DARK"]


def test_retries_rescue_frames_the_plain_call_misses() -> None:
    rng = np.random.default_rng(2026)
    texts = [sample_badge_text(rng) for _ in range(10)]
    conditions = [Condition.DEFOCUS, Condition.SMALL, Condition.NOISE, Condition.LOW_LIGHT]
    frames = [
        (t, render_badge_frame(t, rng, c)) for c in conditions for t in texts for _ in range(3)
    ]
    plain, retried = ZxingDecoder(retries=False), ZxingDecoder()
    plain_ok = sum(t in plain.decode(f) for t, f in frames)
    retried_ok = sum(t in retried.decode(f) for t, f in frames)
    assert retried_ok > plain_ok
    # and a retry never invents a code the plain call found differently
    assert all(set(plain.decode(f)) <= set(retried.decode(f)) for _, f in frames[:20])


def test_image_helpers_keep_shape_and_type() -> None:
    img = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert box3(img).shape == (6, 8) and box3(np.full((4, 4), 9, np.uint8)).max() == 9
    assert sharpen(np.full((4, 4), 100, np.uint8)).tolist() == np.full((4, 4), 100).tolist()
    assert half(img).shape == (3, 4) and half(img)[0, 0] == (0 + 1 + 8 + 9) // 4
    assert double(img).shape == (12, 16) and double(img)[1, 1] == img[0, 0]
