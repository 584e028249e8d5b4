"""QR decoding with zxing-cpp (the default: fastest and most robust of those measured).

One plain zxing-cpp call decodes almost every frame. When it fails, the frame is tried again,
cheaply, in ways that rescue what a station camera typically gets wrong:

- zxing located a symbol but could not read it (a checksum error: defocus, noise, a small or
  tilted card): the symbol's region alone is sharpened, smoothed, enlarged or rebinarised;
- nothing was located: the whole frame is tried with a global binariser and at half size.

Frames without a code (most frames a station sees) therefore cost the plain call plus two cheap
retries, and frames whose code reads at once cost nothing extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.errors import DecoderError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

MIN_REGION = 24  # pixels: a located "symbol" smaller than this is noise


def box3(img: Frame) -> Frame:
    """3x3 box blur (edges replicated)."""
    p = np.pad(img, 1, mode="edge").astype(np.uint16)
    h, w = img.shape
    acc = np.zeros((h, w), np.uint16)
    for dy in range(3):
        for dx in range(3):
            acc += p[dy : dy + h, dx : dx + w]
    return (acc // 9).astype(np.uint8)


def sharpen(img: Frame, amount: float = 1.5) -> Frame:
    """Unsharp mask: img + amount * (img - blur)."""
    f = img.astype(np.float32)
    out = f + amount * (f - box3(img).astype(np.float32))
    return np.clip(out, 0, 255).astype(np.uint8)


def half(img: Frame) -> Frame:
    """Half size by 2x2 averaging (removes noise, sharpens blur in pixel terms)."""
    h, w = img.shape
    f = img[: h // 2 * 2, : w // 2 * 2].astype(np.uint16)
    return ((f[0::2, 0::2] + f[1::2, 0::2] + f[0::2, 1::2] + f[1::2, 1::2]) // 4).astype(np.uint8)


def double(img: Frame) -> Frame:
    """Twice the size, nearest neighbour (gives small codes more pixels per module)."""
    return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


class ZxingDecoder:
    name = "zxing"

    def __init__(self, *, retries: bool = True) -> None:
        try:
            import zxingcpp
        except ImportError as exc:
            raise DecoderError(
                "zxing-cpp is not installed. Fix: pip install 'presensi[station]'"
            ) from exc
        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        self._global = zxingcpp.Binarizer.GlobalHistogram
        self.retries = retries
        self._region_tries: tuple[Callable[[Frame], list[str]], ...] = (
            lambda r: self._read(sharpen(r)),
            lambda r: self._read(double(sharpen(r))),
            lambda r: self._read(box3(r)),
            lambda r: self._read(double(r)),
            lambda r: self._read(half(r)),
            lambda r: self._read(r, binarizer=self._global),
        )
        self._frame_tries: tuple[Callable[[Frame], list[str]], ...] = (
            lambda f: self._read(f, binarizer=self._global),
            lambda f: self._read(half(f)),
        )

    def _read(self, img: Frame, **options: Any) -> list[str]:
        if min(img.shape) < MIN_REGION:  # e.g. half of a tiny frame: nothing to find there
            return []
        found = self._zx.read_barcodes(np.ascontiguousarray(img), formats=self._formats, **options)
        return [b.text for b in found if b.valid]

    def decode(self, frame: Frame) -> list[str]:
        found = self._zx.read_barcodes(frame, formats=self._formats, return_errors=True)
        texts = [b.text for b in found if b.valid]
        if texts or not self.retries:
            return texts
        regions = [r for r in (_region(frame, b.position) for b in found) if r is not None]
        for region in regions:
            for attempt in self._region_tries:
                if texts := attempt(region):
                    return texts
        if not regions:
            for attempt in self._frame_tries:
                if texts := attempt(frame):
                    return texts
        return []


def _region(frame: Frame, position: Any, margin: float = 0.5) -> Frame | None:
    corners = (position.top_left, position.top_right, position.bottom_left, position.bottom_right)
    xs = [p.x for p in corners]
    ys = [p.y for p in corners]
    size = max(max(xs) - min(xs), max(ys) - min(ys))
    if size < MIN_REGION:
        return None
    m = int(size * margin) + 8
    h, w = frame.shape
    return frame[
        max(0, min(ys) - m) : min(h, max(ys) + m), max(0, min(xs) - m) : min(w, max(xs) + m)
    ]
