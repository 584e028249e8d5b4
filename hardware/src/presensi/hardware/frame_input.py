"""What a decoder accepts as a frame, whatever a camera or a caller hands it.

A decoder works on a 2-D ``uint8`` luminance array. Cameras deliver that, but a driver, a
recording or a test may hand over anything: colour, 16-bit, floats, a zero-size array, an
8K still. `gray_frame` turns what can be read into a frame (colour to luminance, other depths
scaled to 8 bits, very large frames shrunk by whole steps) and refuses the rest with a
`FrameError` that says what was wrong. It never takes long: the work is a few numpy passes,
and a frame above `MAX_PIXELS` is shrunk before any decoding, so one odd frame cannot stall the
scan loop.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.errors import FrameError

__all__ = ["MAX_PIXELS", "MIN_SIDE", "FrameError", "gray_frame"]

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

MAX_PIXELS = 4_000_000  # above this (e.g. 8K, 33 Mpx) a frame is shrunk by whole steps first
MIN_SIDE = 21  # the smallest QR code with no quiet zone, one pixel a module


def gray_frame(frame: Any) -> Frame | None:
    """`frame` as a C-contiguous 2-D uint8 array; None if it is too small to hold a code.

    Raises FrameError for what is not an image: not an array, not 2-D (or 3-D with 1-4
    channels), or of a type that holds no pixel values (strings, objects, complex numbers).
    """
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"a frame is a numpy array, not {type(frame).__name__}")
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 2, 3, 4))):
        raise FrameError(
            f"a frame is height x width (grey) or height x width x 1-4 channels, "
            f"not shape {frame.shape}"
        )
    _check_kind(frame)
    height, width = frame.shape[:2]
    if min(height, width) < MIN_SIDE:
        return None
    if height * width > MAX_PIXELS:  # shrink first: converting 33 Mpx of colour takes long
        step = math.ceil(math.sqrt(height * width / MAX_PIXELS))
        frame = frame[::step, ::step]
        if min(frame.shape[:2]) < MIN_SIDE:
            return None
    out: Frame = np.ascontiguousarray(_to_uint8(_luminance(frame)))
    return out


def _luminance(frame: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] <= 2:  # grey, or grey with alpha
        return frame[:, :, 0]
    rgb = frame[:, :, :3].astype(np.float32)  # colour order does not matter much to a QR code
    lum: np.ndarray[Any, Any] = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    return lum if frame.dtype.kind == "f" else lum.astype(frame.dtype)  # keep the depth


def _check_kind(frame: np.ndarray[Any, Any]) -> None:
    if frame.dtype.kind not in "buif":
        raise FrameError(f"a frame holds numbers, not {frame.dtype}")


def _to_uint8(img: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if img.dtype == np.uint8:
        return img
    if img.dtype.kind == "b":
        return img.astype(np.uint8) * np.uint8(255)
    if img.dtype.kind in "ui" and img.dtype.itemsize > 1:  # 10-, 12- and 16-bit sensors
        top = float(img.max(initial=0))
        shift = max(0, math.ceil(math.log2(top + 1)) - 8) if top > 255 else 0
        deep: np.ndarray[Any, Any] = np.clip(img.astype(np.int64) >> shift, 0, 255)
        return deep.astype(np.uint8)
    f = np.nan_to_num(img.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if img.dtype.kind == "f" and float(f.max(initial=0)) <= 1.0:
        f = f * 255  # floats in 0..1
    scaled: np.ndarray[Any, Any] = np.clip(f + 0.5, 0, 255)
    return scaled.astype(np.uint8)
