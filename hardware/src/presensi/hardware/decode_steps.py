"""Image steps the zxing-cpp decoder retries a frame with when its plain call read nothing.

Each step makes a new image from the frame, or from where zxing-cpp located a symbol it could
not read (`Quad`: the symbol's corners as zxing-cpp reports them, in the symbol's own
orientation). They use numpy and Pillow only (a station may not have OpenCV) and cost well
under a millisecond or two each; `decoder_zxing` says which ones run, and
docs/benchmarks.md what each one buys.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]
"""Top-left, top-right, bottom-right, bottom-left corner of a symbol, in frame pixels."""

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


def unsharp(img: Frame, radius: float = 2.0, percent: int = 200) -> Frame:
    """Unsharp mask with a Gaussian of `radius` pixels (Pillow's, in C: a few ms on a
    1280x720 frame): restores the edges of a defocused code whose blur is near half a module."""
    out: Frame = np.asarray(
        Image.fromarray(img).filter(ImageFilter.UnsharpMask(radius, percent, threshold=0))
    )
    return out


def enlarge(img: Frame, factor: float = 1.5) -> Frame:
    """`factor` times the size, bilinear: more pixels per module for zxing-cpp's local
    binariser, whose window is a fixed number of pixels, and smoother module edges."""
    h, w = img.shape
    size = (round(w * factor), round(h * factor))
    out: Frame = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR))
    return out


def half(img: Frame) -> Frame:
    """Half size by 2x2 averaging (removes noise, sharpens blur in pixel terms)."""
    h, w = img.shape
    f = img[: h // 2 * 2, : w // 2 * 2].astype(np.uint16)
    return ((f[0::2, 0::2] + f[1::2, 0::2] + f[0::2, 1::2] + f[1::2, 1::2]) // 4).astype(np.uint8)


def double(img: Frame) -> Frame:
    """Twice the size, nearest neighbour (gives small codes more pixels per module)."""
    return np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)


def stretch(img: Frame) -> Frame:
    """Contrast stretched so the 1st and 99th percentiles become black and white."""
    lo, hi = np.percentile(img, (1, 99))
    scale = 255 / max(1.0, float(hi - lo))
    out: Frame = np.clip((img.astype(np.float32) - float(lo)) * scale, 0, 255).astype(np.uint8)
    return out


def normalise(img: Frame, window: int | None = None) -> Frame:
    """Local contrast normalisation (what CLAHE aims at, without its tiles): each pixel's
    distance from the mean of a `window` around it, in units of that window's spread."""
    r = window or max(4, min(img.shape) // 16)
    f = img.astype(np.float32)
    mean = box_mean(f, r)
    spread = np.sqrt(np.maximum(box_mean(f * f, r) - mean * mean, 1.0))
    out: Frame = np.clip(128 + 60 * (f - mean) / (spread + 8), 0, 255).astype(np.uint8)
    return out


def box_mean(f: np.ndarray[Any, Any], r: int) -> np.ndarray[Any, Any]:
    """Mean over a (2r+1)-square around every pixel (edges replicated), from a summed-area
    table."""
    k = 2 * r + 1
    table = np.pad(f, ((r + 1, r), (r + 1, r)), mode="edge").cumsum(0).cumsum(1)
    h, w = f.shape
    total = (
        table[k : k + h, k : k + w] - table[:h, k : k + w] - table[k : k + h, :w] + table[:h, :w]
    )
    out: np.ndarray[Any, Any] = total / (k * k)
    return out


def quad_size(quad: Quad) -> float:
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return max(max(xs) - min(xs), max(ys) - min(ys))


def region(frame: Frame, quad: Quad, margin: float = 0.5) -> Frame | None:
    """The frame around a located symbol, with `margin` of its size on every side."""
    size = quad_size(quad)
    if size < MIN_REGION:
        return None
    m = int(size * margin) + 8
    xs, ys = [int(p[0]) for p in quad], [int(p[1]) for p in quad]
    h, w = frame.shape
    return frame[
        max(0, min(ys) - m) : min(h, max(ys) + m), max(0, min(xs) - m) : min(w, max(xs) + m)
    ]


def unskew(frame: Frame, quad: Quad, reach: float = 3.8, out: int = 520) -> Frame | None:
    """The frame around a located symbol, sheared so its top-left corner is square again.

    Under a steep tilt zxing-cpp finds the top-left finder pattern and the directions of the
    two edges from it, but misjudges the symbol's size (so it reads a wrong grid). This maps
    those two edge directions to the image axes at equal scale, from a little before the
    corner to `reach` times the located size beyond it (the whole symbol, even if it is
    larger than located): what remains is a mild keystone zxing-cpp reads.
    """
    (x0, y0), (x1, y1), _, (x3, y3) = quad
    u, v = (x1 - x0, y1 - y0), (x3 - x0, y3 - y0)
    length = max(math.hypot(*u), math.hypot(*v))
    if length < MIN_REGION or abs(u[0] * v[1] - u[1] * v[0]) < 0.2 * length * length:
        return None  # too small, or the edges nearly parallel: not a symbol seen at an angle
    span = length * reach
    k = max(1.0, span / out)  # frame pixels per output pixel
    n, m = int(span / k), int(0.4 * length / k)
    a, b = u[0] / length * k, v[0] / length * k
    d, e = u[1] / length * k, v[1] / length * k
    c, f = x0 - (a + b) * m, y0 - (d + e) * m
    return _transform(frame, (n, n), Image.Transform.AFFINE, (a, b, c, d, e, f))


def rectify(frame: Frame, quad: Quad, quiet: float = 0.2) -> Frame | None:
    """The located symbol warped to an upright square (its four corners to a square's), with
    a quiet zone of `quiet` of its side around it."""
    side = int(min(480, max(60, quad_size(quad))))
    q = int(side * quiet)
    square = np.array([[q, q], [q + side, q], [q + side, q + side], [q, q + side]], float)
    try:
        h = _homography(square, np.array(quad, float))
    except np.linalg.LinAlgError:  # degenerate corners
        return None
    coeffs = tuple(float(x) for x in (h / h[2, 2]).reshape(-1)[:8])
    return _transform(frame, (side + 2 * q, side + 2 * q), Image.Transform.PERSPECTIVE, coeffs)


def _transform(
    frame: Frame, size: tuple[int, int], kind: Image.Transform, coeffs: tuple[float, ...]
) -> Frame | None:
    if not all(math.isfinite(c) for c in coeffs) or min(size) < MIN_REGION:
        return None
    fill = int(np.median(frame[:: max(1, frame.shape[0] // 32), :: max(1, frame.shape[1] // 32)]))
    img = Image.fromarray(frame).transform(
        size, kind, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=fill
    )
    out: Frame = np.asarray(img)
    return out


def _homography(
    src: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    dst: np.ndarray[tuple[int, int], np.dtype[np.float64]],
) -> np.ndarray[tuple[int, int], np.dtype[np.float64]]:
    """The 3x3 projective map taking the four points `src` to `dst`."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    out: np.ndarray[tuple[int, int], np.dtype[np.float64]] = np.append(
        np.linalg.solve(a, b), 1.0
    ).reshape(3, 3)
    return out
