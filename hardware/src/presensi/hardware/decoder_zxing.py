"""QR decoding with zxing-cpp (the default: fastest and most robust of those measured).

One plain zxing-cpp call decodes almost every frame. When it fails, the frame can be tried
again with the steps of `decode_steps`, in the order of the steps chosen, until one reads or
the frame's retry budget (`budget_ms`) is spent. A step is not started when what it took on
earlier frames (per pixel of the frame) says it would end past the budget, so a slow step on a
slow machine is skipped rather than stalling the scan loop; a cheaper one after it may still run.

- where zxing-cpp located a symbol but could not read it (a checksum or format error: a steep
  tilt, defocus, noise, a small code): the region sharpened, enlarged, halved, box-blurred,
  binarised globally, contrast-stretched and binarised at a fixed threshold, or normalised for
  local contrast (CLAHE-like); the region sheared square from its top-left corner (`unskew`,
  for steep tilts where zxing-cpp misjudges the symbol's size); the symbol warped upright from
  its corners (`rectify`);
- once for the whole frame, where a symbol was located (`located_*`): another binariser
  (global histogram; a contrast stretch and a fixed threshold), an unsharp mask (defocus), the
  frame enlarged 1.5x (bilinear). The whole frame, not the located region: where zxing-cpp
  misjudged the symbol the region is often the wrong one. And `located_grid` (`qr_grid`): the
  code read from its module grid, fitted to the finder patterns this module finds itself, for
  a highlight or a thumb over a finder pattern;
- where nothing was located: the whole frame with a global binariser, at half or double size;
- `track`: where nothing was located in this frame but was in one of the last `track_frames`
  frames, the symbol steps where it was.

`ZxingDecoder(steps=...)` runs a subset; the bench's ablation measures what each one buys
(docs/benchmarks.md, "Decoder steps"). `DEFAULT_STEPS` keeps only those that earned their time
on the tuning split. None of them runs on a frame where nothing was located, so a frame without
a code (most of what a station sees) costs the plain call alone unless something in it looks
like a symbol. Frames of any type or size are first made a grey 8-bit frame
(`frame_input.gray_frame`), or refused with a FrameError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.decode_steps import (
    MIN_REGION,
    Quad,
    box3,
    double,
    enlarge,
    half,
    normalise,
    quad_size,
    rectify,
    region,
    sharpen,
    stretch,
    unsharp,
    unskew,
)
from presensi.hardware.errors import DecoderError
from presensi.hardware.frame_input import gray_frame
from presensi.hardware.qr_grid import read_grids, search_pixels

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

__all__ = ["DEFAULT_STEPS", "STEPS", "ZxingDecoder", "box3", "double", "half", "sharpen"]

Read = Callable[..., list[str]]

# name -> where it runs: "symbol" (each located symbol), "located" (the whole frame, once, when
# a symbol was located), "frame" (the whole frame when nothing was located), "track"
STEPS: dict[str, str] = {
    "located_global": "located",
    "located_stretch_fixed": "located",
    "located_unsharp": "located",
    "located_enlarge": "located",
    "located_grid": "located",
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
# what a step's time goes with, for its estimate (`_within`): the frame's pixels, unless named
# here (the grid step searches a wide frame for finder patterns at half size)
STEP_WORK: dict[str, Callable[[tuple[int, ...]], int]] = {"located_grid": search_pixels}
# the whole-frame retries run on frames up to 1280x720 (a station's camera modes); on a larger
# frame (up to frame_input.MAX_PIXELS, 4 Mpx) one would take 60-70 ms here, past any budget
WHOLE_FRAME_MAX_PIXELS = 1280 * 720
SKIP_DECAY = 0.9  # a skipped step's cost estimate is lowered by this, so it is tried again
# the steps that earned their time on the tuning split (docs/benchmarks.md, "Decoder steps");
# the others rescued nothing the kept ones did not, or cost empty frames too much
DEFAULT_STEPS: tuple[str, ...] = (
    "unskew",
    "region_sharpen_double",
    "located_unsharp",
    "located_enlarge",
    "located_grid",
)
# a located miss may hold the scan loop this long (a frame and a half at 30 fps): with 30 ms,
# `located_grid` mostly did not fit after the other steps (docs/benchmarks.md, fifth round)
DEFAULT_BUDGET_MS = 50.0


class ZxingDecoder:
    name = "zxing"

    def __init__(
        self,
        *,
        retries: bool = True,
        steps: Iterable[str] | None = None,
        budget_ms: float = DEFAULT_BUDGET_MS,
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
        located: dict[str, Callable[[Frame], list[str]]] = {
            "located_global": lambda f: self._read(f, binarizer=self._global),
            "located_stretch_fixed": lambda f: self._read(stretch(f), binarizer=self._fixed),
            "located_unsharp": lambda f: self._read(unsharp(f)),
            "located_enlarge": lambda f: self._read(enlarge(f)),
            "located_grid": lambda f: read_grids(f, partial(self._read, is_pure=True)),
        }
        self._symbol_steps = [(s, symbol[s]) for s in chosen if s in symbol]
        self._located_steps = [(s, located[s]) for s in chosen if s in located]
        self._frame_steps = [(s, whole[s]) for s in chosen if s in whole]
        self._tracking = "track" in chosen
        self._cost: dict[str, float] = {}  # seconds a step takes per pixel of the frame

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
        attempts: list[tuple[str, Callable[[], list[str]]]] = []
        for name, step in self._symbol_steps:
            attempts += [(name, partial(step, img, quad)) for quad in quads[:2]]
        if quads and img.size <= WHOLE_FRAME_MAX_PIXELS:
            attempts += [(name, partial(whole, img)) for name, whole in self._located_steps]
        if not located:
            attempts += [(name, partial(whole, img)) for name, whole in self._frame_steps]
        for name, attempt in attempts:
            work = STEP_WORK.get(name, _pixels)(img.shape)
            if texts := self._within(deadline, name, work, attempt):
                self.forget()
                return texts
        return []

    def _within(
        self, deadline: float, name: str, pixels: int, attempt: Callable[[], list[str]]
    ) -> list[str]:
        """Run `attempt` unless it would not end before `deadline`, judged by what the step
        took on earlier frames per pixel it worked on (`STEP_WORK`): a slow step never stalls
        the scan loop past its frame budget (it is skipped, and a cheaper one after it may
        still run).

        Each skip lowers the estimate a little (`SKIP_DECAY`), so a step that looked slow
        during a burst of load is tried again later instead of being skipped for good."""
        start = time.perf_counter()
        known = self._cost.get(name)
        if known is not None and start + known * pixels > deadline:
            if start < deadline:
                self._cost[name] = known * SKIP_DECAY
            return []
        if start > deadline:
            return []
        texts = attempt()
        per_pixel = (time.perf_counter() - start) / pixels
        self._cost[name] = per_pixel if known is None else 0.7 * known + 0.3 * per_pixel
        return texts


def _pixels(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def _quad(position: Any) -> Quad:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    tl, tr, br, bl = ((float(p.x), float(p.y)) for p in corners)
    return tl, tr, br, bl
