"""Bad input: frames of any size, depth or corruption give no read or a clear FrameError."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import segno
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from presensi.hardware.backends import DECODERS
from presensi.hardware.camera_folder import _load_gray
from presensi.hardware.decoder import Decoder
from presensi.hardware.frame_input import MAX_PIXELS, FrameError, gray_frame

DTYPES = st.sampled_from(
    [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.float32, np.float64, np.bool_]
)


def code_image(text: str = "PRS1:BAD-INPUT") -> np.ndarray:
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=4, border=4)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


@pytest.fixture(scope="module")
def decoders() -> list[Decoder]:
    return [DECODERS.make(name) for name in DECODERS.names]


def decode_or_refuse(decoder: Decoder, frame: object) -> list[str] | None:
    try:
        texts = decoder.decode(frame)  # type: ignore[arg-type]
    except FrameError:
        return None
    assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)
    return texts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays(DTYPES, array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=48))
)  # elements: every value the dtype can hold, NaN and infinities included
def test_any_array_is_read_or_refused_never_a_crash(frame: np.ndarray) -> None:
    for decoder in (DECODERS.make(n) for n in DECODERS.names):
        decode_or_refuse(decoder, frame)


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([np.uint16, np.float32, np.float64, np.int32, np.bool_]),
    st.sampled_from([None, 1, 3, 4]),
)
def test_a_code_in_another_depth_or_with_channels_still_reads(
    dtype: type, channels: int | None
) -> None:
    gray = code_image()
    frame: Any
    if dtype is np.uint16:
        frame = gray.astype(np.uint16) * 257
    elif dtype in (np.float32, np.float64):
        frame = (gray / 255).astype(dtype)
    elif dtype is np.bool_:
        frame = gray > 127
    else:
        frame = gray.astype(dtype)
    if channels is not None:
        frame = np.repeat(frame[:, :, None], channels, axis=2)
    for name in DECODERS.names:
        assert DECODERS.make(name).decode(frame) == ["PRS1:BAD-INPUT"]


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0), np.uint8),
        np.zeros((0, 640), np.uint8),
        np.zeros((480, 0, 3), np.uint8),
        np.zeros((5, 5), np.uint8),
        np.zeros((1, 100_000), np.uint8),
    ],
    ids=["0x0", "0x640", "480x0x3", "5x5", "1x100000"],
)
def test_empty_and_tiny_frames_give_no_read(decoders: list[Decoder], frame: np.ndarray) -> None:
    assert all(d.decode(frame) == [] for d in decoders)


@pytest.mark.parametrize(
    "frame",
    [
        None,
        b"\xff\xd8\xff",
        "a frame",
        [[0, 1], [1, 0]],
        np.zeros((4, 4, 4, 4), np.uint8),
        np.zeros((30, 30, 7), np.uint8),
        np.full((30, 30), "x"),
        np.zeros((30, 30), complex),
    ],
    ids=["none", "bytes", "str", "list", "4-d", "7-channels", "strings", "complex"],
)
def test_what_is_not_an_image_is_a_clear_frame_error(
    decoders: list[Decoder], frame: object
) -> None:
    for decoder in decoders:
        with pytest.raises(FrameError, match="frame"):
            decoder.decode(frame)  # type: ignore[arg-type]


def test_an_8k_frame_is_shrunk_before_decoding(decoders: list[Decoder]) -> None:
    frame = np.full((4320, 7680), 200, np.uint8)
    big = np.kron(code_image(), np.ones((4, 4), np.uint8))  # as an 8K camera would see it
    frame[2000 : 2000 + big.shape[0], 3000 : 3000 + big.shape[1]] = big
    small = gray_frame(frame)
    assert small is not None and small.size <= MAX_PIXELS
    assert [d.decode(frame) for d in decoders] == [["PRS1:BAD-INPUT"]] * len(decoders)
    rgb16: Any = np.zeros((4320, 7680, 3), np.uint16)
    assert all(d.decode(rgb16) == [] for d in decoders)


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.pad(code_image(), 40, constant_values=230)).save(buf, format="JPEG")
    return buf.getvalue()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 4000), flip=st.integers(0, 4000))
def test_truncated_or_corrupt_jpeg_is_skipped_or_read(tmp_path: Path, cut: int, flip: int) -> None:
    data = bytearray(jpeg_bytes())
    data = data[: max(0, len(data) - cut)]
    if data and flip % 3 == 0:
        data[flip % len(data)] ^= 0xFF
    path = tmp_path / "frame.jpg"
    path.write_bytes(bytes(data))
    frame = _load_gray(path)  # None (with a warning) when the file cannot be read
    if frame is not None:
        for name in DECODERS.names:
            decode_or_refuse(DECODERS.make(name), frame)
