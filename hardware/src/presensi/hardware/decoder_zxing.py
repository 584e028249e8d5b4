"""QR decoding with zxing-cpp (the default: fastest and most robust of those measured).

One plain zxing-cpp call decodes almost every frame. When it fails, the frame can be tried
again with the steps of `decode_steps`, in the order of `STEPS`, until one reads or the frame's
retry budget (`budget_ms`) is spent:

- where zxing-cpp located a symbol but could not read it (a checksum or format error: a steep
  tilt, defocus, noise, a small code): the region sheared square from its top-left corner
  (`unskew`, for steep tilts where zxing-cpp misjudges the symbol's size); the region
  sharpened, enlarged, halved, box-blurred, binarised globally, contrast-stretched and
  binarised at a fixed threshold, or normalised for local contrast (CLAHE-like); the symbol
  warped upright from its corners (`rectify`);
- where nothing was located: the whole frame with a global binariser, at half or double size;
- `track`: where nothing was located in this frame but was in one of the last `track_frames`
  frames, the symbol steps where it was.

`ZxingDecoder(steps=...)` runs a subset; the bench's ablation measures what each one buys
(docs/benchmarks.md, "Decoder steps"). `DEFAULT_STEPS` keeps only those that earned their time
on the tuning split: unskew, region_sharpen_double, region_double. None of them runs on a frame
where nothing was located, so a frame without a code (most of what a station sees) costs the
plain call alone unless something in it looks like a symbol. Frames of any type or size are
first made a grey 8-bit frame (`frame_input.gray_frame`), or refused with a FrameError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.decode_steps import (
    MIN_REGION,
    Quad,
    box3,
    double,
    half,
    normalise,
    quad_size,
    rectify,
    region,
    sharpen,
    stretch,
    unskew,
)
from presensi.hardware.errors import DecoderError
from presensi.hardware.frame_input import gray_frame

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

__all__ = ["DEFAULT_STEPS", "STEPS", "ZxingDecoder", "box3", "double", "half", "sharpen"]

Read = Callable[..., list[str]]

# name -> where it runs: "symbol" (a located symbol), "frame" (nothing located), "track"
STEPS: dict[str, str] = {
    "unskew": "symbol",
    "region_sharpen": "symbol",
    "region_sharpen_double": "symbol",
    "region_box3": "symbol",
    "region_double": "symbol",
    "region_half": "symbol",
    "region_global": "symbol",
    "region_stretch_fixed": "symbol",
    "region_normalise": "symbol",
    "rectify": "symbol",
    "frame_global": "frame",
    "frame_half": "frame",
    "frame_double": "frame",
    "track": "track",
}
# the steps that earned their time on the tuning split (docs/benchmarks.md, "Decoder steps");
# the others rescued nothing the kept ones did not, or cost empty frames too much
DEFAULT_STEPS: tuple[str, ...] = ("unskew", "region_sharpen_double", "region_double")


class ZxingDecoder:
    name = "zxing"

    def __init__(
        self,
        *,
        retries: bool = True,
        steps: Iterable[str] | None = None,
        budget_ms: float = 30.0,
        track_frames: int = 3,
    ) -> None:
        try:
            import zxingcpp
        except ImportError as exc:
            raise DecoderError(
                "zxing-cpp is not installed. Fix: pip install 'presensi[station]'"
            ) from exc
        chosen = tuple(DEFAULT_STEPS if steps is None else steps) if retries else ()
        unknown = sorted(set(chosen) - set(STEPS))
        if unknown:
            raise ValueError(f"unknown decoder steps {unknown}; known: {', '.join(STEPS)}")
        self._zx = zxingcpp
        self._formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        self._global = zxingcpp.Binarizer.GlobalHistogram
        self._fixed = zxingcpp.Binarizer.FixedThreshold
        self.retries = retries
        self.steps = chosen
        self.budget_s = budget_ms / 1000
        self.track_frames = track_frames
        self._hint: Quad | None = None
        self._hint_left = 0
        symbol: dict[str, Callable[[Frame, Quad], list[str]]] = {
            "region_sharpen": self._on_region(lambda r: self._read(sharpen(r))),
            "region_sharpen_double": self._on_region(lambda r: self._read(double(sharpen(r)))),
            "region_box3": self._on_region(lambda r: self._read(box3(r))),
            "region_double": self._on_region(lambda r: self._read(double(r))),
            "region_half": self._on_region(lambda r: self._read(half(r))),
            "region_global": self._on_region(lambda r: self._read(r, binarizer=self._global)),
            "region_stretch_fixed": self._on_region(
                lambda r: self._read(stretch(r), binarizer=self._fixed)
            ),
            "region_normalise": self._on_region(lambda r: self._read(normalise(r))),
            "unskew": lambda f, q: self._read_maybe(unskew(f, q)),
            "rectify": lambda f, q: self._read_maybe(rectify(f, q)),
        }
        whole: dict[str, Callable[[Frame], list[str]]] = {
            "frame_global": lambda f: self._read(f, binarizer=self._global),
            "frame_half": lambda f: self._read(half(f)),
            "frame_double": lambda f: self._read(double(f)) if f.shape[1] <= 640 else [],
        }
        self._symbol_steps = [symbol[s] for s in chosen if s in symbol]
        self._frame_steps = [whole[s] for s in chosen if s in whole]
        self._tracking = "track" in chosen

    def _on_region(self, read: Callable[[Frame], list[str]]) -> Callable[[Frame, Quad], list[str]]:
        def step(frame: Frame, quad: Quad) -> list[str]:
            r = region(frame, quad)
            return [] if r is None else read(r)

        return step

    def _read_maybe(self, img: Frame | None) -> list[str]:
        return [] if img is None else self._read(img)

    def _read(self, img: Frame, **options: Any) -> list[str]:
        if min(img.shape) < MIN_REGION:  # e.g. half of a tiny frame: nothing to find there
            return []
        found = self._zx.read_barcodes(np.ascontiguousarray(img), formats=self._formats, **options)
        return [b.text for b in found if b.valid]

    def forget(self) -> None:
        """Drop what was located in earlier frames (a new presentation)."""
        self._hint, self._hint_left = None, 0

    def decode(self, frame: Frame) -> list[str]:
        """Texts of the QR codes in the frame. Raises FrameError for what is not an image."""
        img = gray_frame(frame)
        if img is None:
            return []
        found = self._zx.read_barcodes(img, formats=self._formats, return_errors=True)
        texts = [b.text for b in found if b.valid]
        if texts or not self.steps:
            self.forget()
            return texts
        quads = [q for q in (_quad(b.position) for b in found) if quad_size(q) >= MIN_REGION]
        return self._retry(img, quads)

    def _retry(self, img: Frame, quads: Sequence[Quad]) -> list[str]:
        deadline = time.perf_counter() + self.budget_s
        located = bool(quads)
        if located:
            self._hint, self._hint_left = quads[0], self.track_frames
        elif self._tracking and self._hint is not None and self._hint_left > 0:
            self._hint_left -= 1
            quads = [self._hint]
        for quad in quads[:2]:
            for step in self._symbol_steps:
                if time.perf_counter() > deadline:
                    return []
                if texts := step(img, quad):
                    self.forget()
                    return texts
        if not located:
            for whole in self._frame_steps:
                if time.perf_counter() > deadline:
                    return []
                if texts := whole(img):
                    self.forget()
                    return texts
        return []


def _quad(position: Any) -> Quad:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    tl, tr, br, bl = ((float(p.x), float(p.y)) for p in corners)
    return tl, tr, br, bl
