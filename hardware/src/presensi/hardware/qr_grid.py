"""Read a QR code from its module grid: a retry for frames whose finder patterns are damaged.

zxing-cpp finds a QR code by its three finder patterns and reads it from a binarised image.
Two things defeat it on frames a station meets: a highlight or a thumb over one finder
pattern (zxing-cpp then finds no symbol at all), and a threshold that is wrong over part of
the code (a highlight's gradient). Both leave most modules perfectly readable. This module:

1. finds finder patterns itself (the 1:1:3:1:1 runs, across and down, in a frame binarised
   against its local mean), and takes three of them, or two and each place the third may be;
2. maps the symbol's module grid onto the frame for every likely version, scores each by how
   well the greys where it puts the function patterns (finders, timing and alignment
   patterns) match them, and moves the best grids' four control points (the finder centres
   and the bottom-right alignment centre) while the match grows: that follows a tilt's
   perspective, and places the finder a thumb hides;
3. samples each module's grey at its centre and judges it against the modules around it (a
   threshold in module space, which follows a highlight's gradient);
4. writes back the function patterns the standard fixes (finder, separator, timing and
   alignment patterns, the version blocks): a finder under a thumb is restored, since it holds
   no data; the data modules it covered are errors the code's error correction restores;
5. gives zxing-cpp the result as a clean, upright code to read (`is_pure`).

Versions 1-10 are handled (a badge's code is version 6 or 7). numpy only; docs/benchmarks.md
says what it reads and costs.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.decode_steps import box_mean, half

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

Array = np.ndarray[Any, Any]
Point = tuple[float, float]

# the centres of the alignment patterns, per version (ISO/IEC 18004, annex E)
ALIGNMENT_CENTRES: dict[int, tuple[int, ...]] = {
    1: (),
    2: (6, 18),
    3: (6, 22),
    4: (6, 26),
    5: (6, 30),
    6: (6, 34),
    7: (6, 22, 38),
    8: (6, 24, 42),
    9: (6, 26, 46),
    10: (6, 28, 50),
}
MAX_VERSION = max(ALIGNMENT_CENTRES)
MIN_MODULE_PX = 1.6  # a module narrower than this on the frame is beyond sampling
MAX_FINDERS = 5  # the most crossed finder candidates considered
BLOCK = 8  # pixels: the binariser's blocks
MIN_FRAME = 64  # pixels: a smaller frame holds no code worth searching
SEARCH_WIDTH = 960  # wider frames are searched for finders at half size
COARSE, FINE = 5, 2  # grids refined in whole modules, and of those to a quarter module
# how well a grid must fit (`Fit.scores`) to be refined in whole modules, then to a quarter
# module, and to be read; on tuning frames every grid that read fit 0.64-0.9 in the end
FIT_ROUGH, FIT_COARSE, FIT_READ = 0.3, 0.4, 0.55
FIT_TRIPLE = 0.5  # a grid of three finders that fits this well: pairs are not tried
# more 1:1:3:1:1 crossings than this one way (frames with a code: 99th percentile 368 on
# tuning frames), or more confirmed both ways, is clutter or a sheet of codes: not searched,
# as the matching below grows with their square
MAX_CROSSINGS, MAX_POINTS = 500, 300
PURE_MODULE_PX = 4  # the clean image zxing-cpp reads: pixels per module


@dataclass(frozen=True)
class Finder:
    x: float
    y: float
    module: float  # pixels
    votes: int  # rows and columns that crossed it with 1:1:3:1:1


@dataclass(frozen=True)
class Grid:
    """The map from module coordinates (column, row; 0..n) to frame pixels: a homography."""

    n: int  # modules a side
    h: Array  # 3x3

    def at(self, u: Array, v: Array) -> tuple[Array, Array]:
        h = self.h
        d = h[2, 0] * u + h[2, 1] * v + h[2, 2]
        return (h[0, 0] * u + h[0, 1] * v + h[0, 2]) / d, (h[1, 0] * u + h[1, 1] * v + h[1, 2]) / d


# ------------------------------------------------------------------------------ finders


def binarise(img: Frame) -> Array:
    """Dark where darker than the mean around it: the mean of 8x8-pixel blocks, smoothed over
    5x5 blocks (40 pixels: a few finder widths), as zxing-cpp's own binariser judges. The
    frame's last rows and columns short of a whole block are left out."""
    h, w = img.shape
    bh, bw = max(1, h // BLOCK), max(1, w // BLOCK)
    cut = img[: bh * BLOCK, : bw * BLOCK]
    rows = cut.reshape(bh * BLOCK, bw, BLOCK).sum(axis=2, dtype=np.uint16)
    blocks = rows.reshape(bh, BLOCK, bw).sum(axis=1, dtype=np.uint32) / (BLOCK * BLOCK)
    cut = cut.reshape(bh, BLOCK, bw, BLOCK)
    smooth = box_mean(blocks, 2)
    out: Array = (cut < (smooth - 2)[:, None, :, None]).reshape(bh * BLOCK, bw * BLOCK)
    return out


def _crossings(dark: Array, every: int) -> Array:
    """Where every `every`th row of `dark` crosses a finder pattern: rows of (x, y, module)."""
    h, w = dark.shape
    rows = np.full((len(range(0, h, every)), w + 1), -1, np.int8)  # -1 ends a run at row end
    rows[:, :w] = dark[::every]
    flat = rows.ravel()
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    if len(starts) < 5:
        return np.zeros((0, 3))
    lengths = np.diff(np.r_[starts, flat.size]).astype(np.float32)
    colours = flat[starts]
    win = np.lib.stride_tricks.sliding_window_view(lengths, 5)
    col = np.lib.stride_tricks.sliding_window_view(colours, 5)
    unit = win.sum(axis=1) / 7
    ok = (col == np.array([1, 0, 1, 0, 1], np.int8)).all(axis=1) & (unit >= MIN_MODULE_PX)
    for i in (0, 1, 3, 4):
        ok &= np.abs(win[:, i] - unit) < 0.6 * unit
    ok &= np.abs(win[:, 2] - 3 * unit) < 1.5 * unit
    idx = np.flatnonzero(ok)
    centre = starts[idx + 2] + win[idx, 2] / 2
    y, x = np.divmod(centre, w + 1)
    out: Array = np.c_[x, y * every + 0.5, unit[idx]]
    return out


def find_finders(img: Frame, every: int = 2) -> list[Finder]:
    """Finder patterns: places crossed by 1:1:3:1:1 runs both across and down (every
    `every`th row and column), most crossed first."""
    if min(img.shape) < MIN_FRAME:
        return []
    scale = 2 if img.shape[1] > SEARCH_WIDTH else 1  # a station's 1280x720: at half size
    dark = binarise(half(img) if scale == 2 else img)
    across = _crossings(dark, every)
    if not len(across) or len(across) > MAX_CROSSINGS:  # none, or clutter: not a badge
        return []
    # down only the columns through what was crossed across (as zxing-cpp checks a centre)
    near = across[:, 0].astype(np.intp)[:, None] + np.arange(-2, 3)[None, :]
    cols = np.unique(np.clip(near, 0, dark.shape[1] - 1))
    down = _crossings(np.ascontiguousarray(dark[:, cols].T), 1)
    if not len(down) or len(down) > MAX_CROSSINGS:
        return []
    down = np.c_[cols[down[:, 1].astype(np.intp)] + 0.5, down[:, 0], down[:, 2]]
    # a finder's centre is crossed both ways at about the same place and module size
    dist = np.hypot(across[:, None, 0] - down[None, :, 0], across[:, None, 1] - down[None, :, 1])
    close = dist < np.maximum(2.0, 1.5 * across[:, None, 2])
    close &= np.abs(np.log(across[:, None, 2] / down[None, :, 2])) < 0.5
    across, down = across[close.any(axis=1)], down[close.any(axis=0)]
    # the crossings of one finder: connected by being near one another at a like module size
    points = np.r_[across, down]
    if len(points) > MAX_POINTS:  # finder-like patterns everywhere: a sheet of codes, clutter
        return []
    is_down = np.r_[np.zeros(len(across), bool), np.ones(len(down), bool)]
    m = points[:, 2]
    near = np.hypot(
        points[:, None, 0] - points[None, :, 0], points[:, None, 1] - points[None, :, 1]
    )
    near = (near < 2 * np.maximum(m[:, None], m[None, :])) & (
        np.abs(np.log(m[:, None] / m[None, :])) < 0.5
    )
    labels = np.arange(len(points))
    for _ in range(MAX_POINTS):
        spread = np.where(near, labels[None, :], len(points)).min(axis=1)
        if (spread == labels).all():
            break
        labels = spread
    _, group = np.unique(labels, return_inverse=True)
    count_a = np.bincount(group, weights=~is_down)
    count_d = np.bincount(group, weights=is_down)
    size = count_a + count_d
    x, y = np.bincount(group, points[:, 0]) / size, np.bincount(group, points[:, 1]) / size
    module = np.bincount(group, m) / size
    votes = np.minimum(count_a, count_d)
    order = [i for i in np.argsort(-votes, kind="stable") if votes[i] > 0][:MAX_FINDERS]
    return [
        Finder(float(x[i]) * scale, float(y[i]) * scale, float(module[i]) * scale, int(votes[i]))
        for i in order
    ]


def search_pixels(shape: tuple[int, ...]) -> int:
    """The pixels the finder search looks at in a frame of `shape`: what its time goes with."""
    h, w = shape[:2]
    return h * w // 4 if w > SEARCH_WIDTH else h * w


# ------------------------------------------------------------------------------ grids


def _versions(modules_between: float) -> range:
    """Versions whose finder centres may lie `modules_between` modules apart (n - 7) by the
    module size the finder runs give: blur widens them, and on tuning frames that size was
    0.95-1.4 times the true one (1st to 99th percentile)."""
    low, high = 0.93 * modules_between + 7, 1.42 * modules_between + 7  # modules a side
    return range(
        max(1, math.ceil((low - 17) / 4)), min(MAX_VERSION, math.floor((high - 17) / 4)) + 1
    )


def _affine(tl: Point, tr: Point, bl: Point, n: int) -> Array:
    """The affine map taking the finder centres' module coordinates to `tl`, `tr`, `bl`."""
    a = (n - 7) or 1
    ux, uy = (tr[0] - tl[0]) / a, (tr[1] - tl[1]) / a
    vx, vy = (bl[0] - tl[0]) / a, (bl[1] - tl[1]) / a
    return np.array(
        [
            [ux, vx, tl[0] - 3.5 * (ux + vx)],
            [uy, vy, tl[1] - 3.5 * (uy + vy)],
            [0.0, 0.0, 1.0],
        ]
    )


Corners = tuple[Point, Point, Point]  # the finder centres: top-left, top-right, bottom-left


def corners(
    finders: list[Finder], *, triples: bool = True, pairs: bool = True
) -> Iterator[tuple[Corners, float]]:
    """Where the three finder centres may be, with the module size: from three finders, and
    from pairs (the third hidden by a thumb or a highlight: every place it may be)."""
    for a, b, c in itertools.permutations(finders[:MAX_FINDERS] if triples else [], 3):
        tl, tr, bl = (a.x, a.y), (b.x, b.y), (c.x, c.y)
        ux, uy, vx, vy = tr[0] - tl[0], tr[1] - tl[1], bl[0] - tl[0], bl[1] - tl[1]
        lu, lv = math.hypot(ux, uy), math.hypot(vx, vy)
        if min(lu, lv) == 0 or not _clockwise(tl, tr, bl):  # anticlockwise: a mirror
            continue
        if abs(ux * vx + uy * vy) / (lu * lv) > 0.35 or max(lu, lv) > 1.8 * min(lu, lv):
            continue
        if max(a.module, b.module, c.module) > 2 * min(a.module, b.module, c.module):
            continue
        yield (tl, tr, bl), (a.module + b.module + c.module) / 3
    for a, b in itertools.combinations(finders[:MAX_FINDERS] if pairs else [], 2):
        if max(a.module, b.module) > 2 * min(a.module, b.module):
            continue
        m = (a.module + b.module) / 2
        for p, q in ((a, b), (b, a)):  # side by side: p the top-left
            ex, ey = q.x - p.x, q.y - p.y
            yield ((p.x, p.y), (q.x, q.y), (p.x - ey, p.y + ex)), m  # q top-right
            yield ((p.x, p.y), (p.x + ey, p.y - ex), (q.x, q.y)), m  # q bottom-left
        mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2  # across: top-right and bottom-left
        hx, hy = (b.x - a.x) / 2, (b.y - a.y) / 2
        for tl in ((mx - hy, my + hx), (mx + hy, my - hx)):
            tr, bl = (a.x, a.y), (b.x, b.y)
            yield ((tl, tr, bl) if _clockwise(tl, tr, bl) else (tl, bl, tr)), m


def _clockwise(tl: Point, tr: Point, bl: Point) -> bool:
    return (tr[0] - tl[0]) * (bl[1] - tl[1]) - (tr[1] - tl[1]) * (bl[0] - tl[0]) > 0


class Fit:
    """How well grids fit the frame: the greys where a grid puts the function patterns,
    correlated with those patterns (1: a perfect match)."""

    def __init__(self, img: Frame, n: int) -> None:
        self.img, self.n = img, n
        self.u, self.v, self.sign, self.src = _fit_pattern(n)

    def scores(self, h: Array, rough: bool = False) -> Array:
        """The fit of each homography in `h` (k, 3, 3); `rough`: the nearest pixels' greys."""
        u, v = self.u[None, :], self.v[None, :]
        d = h[:, 2, 0, None] * u + h[:, 2, 1, None] * v + h[:, 2, 2, None]
        x = (h[:, 0, 0, None] * u + h[:, 0, 1, None] * v + h[:, 0, 2, None]) / d
        y = (h[:, 1, 0, None] * u + h[:, 1, 1, None] * v + h[:, 1, 2, None]) / d
        g = (_nearest if rough else _bilinear)(self.img, x, y)
        g = g - g.mean(axis=1, keepdims=True)
        spread = np.maximum(g.std(axis=1), 1.0)
        out: Array = (g * self.sign).mean(axis=1) / spread
        return out

    def refine(self, points: Array, steps: tuple[float, ...], passes: int) -> tuple[Array, float]:
        """Move the four control points (the finder centres and the bottom-right alignment
        centre, in pixels) by `steps` modules, the best move at a time, while the fit grows:
        (the points, their fit)."""
        h = _homographies(self.src, points[None])
        score = float(self.scores(h)[0])
        module = float(np.hypot(*(points[1] - points[0]))) / (self.n - 7)
        for step in steps:
            for _ in range(passes):
                trials = points[None] + MOVES * step * module
                fits = self.scores(_homographies(self.src, trials))
                best = int(np.argmax(fits))
                if not fits[best] > score + 1e-4:
                    break
                points, score = trials[best], float(fits[best])
        return points, score

    def grid(self, points: Array) -> Grid:
        return Grid(self.n, _homographies(self.src, points[None])[0])

    def points(self, grid: Grid) -> Array:
        x, y = grid.at(self.src[:, 0], self.src[:, 1])
        out: Array = np.c_[x, y]
        return out


@functools.cache
def _fit_pattern(n: int) -> tuple[Array, Array, Array, Array]:
    """For a grid's fit: the function patterns' module centres (u, v), their weighted signs
    (light +, dark -), and the control points' module coordinates."""
    fixed, dark = function_patterns(n)
    rows, cols = np.nonzero(fixed)
    sign = np.where(dark[rows, cols], -1.0, 1.0)
    # the timing and alignment patterns tell versions and placements apart (the finders are
    # where every candidate grid puts them): they count for more
    corner = ((rows < 8) | (rows >= n - 8)) & ((cols < 8) | (cols >= n - 8))
    weight = np.where(corner, 1.0, 3.0)
    sign = (sign - np.average(sign, weights=weight)) * weight / weight.mean()
    # the control points: the finder centres and the bottom-right alignment centre
    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5], [n - 6.5, n - 6.5]])
    return cols + 0.5, rows + 0.5, sign, src


# the 16 moves of the refinement: each control point a step right, left, down or up
MOVES = np.zeros((16, 4, 2))
for _k, (_i, _move) in enumerate(itertools.product(range(4), ((1, 0), (-1, 0), (0, 1), (0, -1)))):
    MOVES[_k, _i] = _move


def grids(img: Frame, finders: list[Finder]) -> Iterator[Grid]:
    """The best-fitting module grids for the frame's finders. Every placement and version is
    scored by how its function patterns fit (those of three finders first, then, unless one
    of them fits well, those of pairs); the best `COARSE` are refined in whole-module steps
    and ranked again, and the best `FINE` of those refined to a quarter module."""
    scored = _placed(img, corners(finders, pairs=False))
    if not scored or scored[0][0] < FIT_TRIPLE:
        scored = sorted([*scored, *_placed(img, corners(finders, triples=False))], key=_first)
    coarse = []
    for rough, grid, fit in scored[:COARSE]:
        if rough < FIT_ROUGH:
            break
        points, score = fit.refine(fit.points(grid), (1.0,), passes=3)
        coarse.append((score, points, fit))
    coarse.sort(key=_first)
    for score, points, fit in coarse[:FINE]:
        if score < FIT_COARSE:
            break
        if score >= FIT_READ:
            yield fit.grid(points)
        fine, fine_score = fit.refine(points, (0.5, 0.25), passes=3)
        if fine_score >= FIT_READ:
            yield fit.grid(fine)


def _first(scored: tuple[float, Any, Any]) -> float:
    return -scored[0]


def _placed(
    img: Frame, placements: Iterator[tuple[Corners, float]]
) -> list[tuple[float, Grid, Fit]]:
    """Each placement's grid for every likely version, with its rough fit, best first."""
    placed: dict[int, list[Array]] = {}
    for (tl, tr, bl), module in placements:
        top = math.hypot(tr[0] - tl[0], tr[1] - tl[1])
        between = (top + math.hypot(bl[0] - tl[0], bl[1] - tl[1])) / 2
        for v in _versions(between / module):
            n = 17 + 4 * v
            if between / (n - 7) >= MIN_MODULE_PX:
                placed.setdefault(n, []).append(_affine(tl, tr, bl, n))
    scored: list[tuple[float, Grid, Fit]] = []
    for n, maps in placed.items():
        fit = Fit(img, n)
        fits = fit.scores(np.array(maps), rough=True)
        scored += [(float(s), Grid(n, m), fit) for s, m in zip(fits, maps, strict=True)]
    return sorted(scored, key=_first)


def _homographies(src: Array, dst: Array) -> Array:
    """The 3x3 maps taking the four points `src` to each set of four in `dst` (k, 4, 2)."""
    k = len(dst)
    a = np.zeros((k, 8, 8))
    x, y = src[:, 0], src[:, 1]
    u, v = dst[:, :, 0], dst[:, :, 1]
    a[:, 0::2, 0], a[:, 0::2, 1], a[:, 0::2, 2] = x, y, 1
    a[:, 1::2, 3], a[:, 1::2, 4], a[:, 1::2, 5] = x, y, 1
    a[:, 0::2, 6], a[:, 0::2, 7] = -u * x, -u * y
    a[:, 1::2, 6], a[:, 1::2, 7] = -v * x, -v * y
    b = np.empty((k, 8))
    b[:, 0::2], b[:, 1::2] = u, v
    try:
        sol = np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.tile(np.eye(3), (k, 1, 1)) * np.nan
    return np.concatenate([sol, np.ones((k, 1))], axis=1).reshape(k, 3, 3)


# ------------------------------------------------------------------------------ modules


def _nearest(img: Frame, x: Array, y: Array) -> Array:
    h, w = img.shape
    cols = np.clip(np.nan_to_num(x, nan=-1.0), 0, w - 1).astype(np.intp)
    rows = np.clip(np.nan_to_num(y, nan=-1.0), 0, h - 1).astype(np.intp)
    out: Array = img[rows, cols].astype(np.float32)
    return out


def _bilinear(img: Frame, x: Array, y: Array) -> Array:
    h, w = img.shape
    x = np.clip(np.nan_to_num(x, nan=-1.0), 0, w - 1.001)
    y = np.clip(np.nan_to_num(y, nan=-1.0), 0, h - 1.001)
    x0, y0 = x.astype(np.intp), y.astype(np.intp)
    fx, fy = x - x0, y - y0
    f = img
    out: Array = (
        f[y0, x0] * (1 - fx) * (1 - fy)
        + f[y0, x0 + 1] * fx * (1 - fy)
        + f[y0 + 1, x0] * (1 - fx) * fy
        + f[y0 + 1, x0 + 1] * fx * fy
    )
    return out


def sample(img: Frame, grid: Grid) -> Array:
    """Each module's grey: the mean of 3x3 points over the middle third of the module."""
    n = grid.n
    cols, rows = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64))
    offsets = np.array([0.33, 0.5, 0.67])
    u = (cols[..., None, None] + offsets[None, None, None, :]).repeat(3, axis=2)
    v = (rows[..., None, None] + offsets[None, None, :, None]).repeat(3, axis=3)
    x, y = grid.at(u, v)
    out: Array = _bilinear(img, x, y).mean(axis=(2, 3))
    return out


def modules_dark(grey: Array, radius: int = 3) -> Array:
    """Dark modules: darker than the mean of the (2r+1)-square of modules around them."""
    out: Array = grey < box_mean(grey, radius)
    return out


@functools.cache
def function_patterns(n: int) -> tuple[Array, Array]:
    """(which modules the standard fixes, their colour: True dark) for an n-module symbol."""
    v = (n - 17) // 4
    fixed = np.zeros((n, n), bool)
    dark = np.zeros((n, n), bool)

    def put(r: int, c: int, pattern: Array) -> None:
        h, w = pattern.shape
        fixed[r : r + h, c : c + w] = True
        dark[r : r + h, c : c + w] = pattern

    finder = np.ones((7, 7), bool)
    finder[1:6, 1:6] = False
    finder[2:5, 2:5] = True
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        put(r, c, finder)
    for r, c, h, w in ((7, 0, 1, 8), (0, 7, 8, 1), (7, n - 8, 1, 8), (0, n - 8, 8, 1)):
        put(r, c, np.zeros((h, w), bool))
    put(n - 8, 0, np.zeros((1, 8), bool))
    put(n - 8, 7, np.zeros((8, 1), bool))
    timing = np.arange(8, n - 8) % 2 == 0
    put(6, 8, timing[None, :])
    put(8, 6, timing[:, None])
    align = np.ones((5, 5), bool)
    align[1:4, 1:4] = False
    align[2, 2] = True
    centres = ALIGNMENT_CENTRES[v]
    for r, c in itertools.product(centres, centres):
        if (r, c) not in ((6, 6), (6, centres[-1]), (centres[-1], 6)):
            put(r - 2, c - 2, align)
    put(4 * v + 9, 8, np.ones((1, 1), bool))
    if v >= 7:
        bits = _version_bits(v)
        block = np.array([[bits >> (3 * i + j) & 1 for j in range(3)] for i in range(6)], bool)
        put(0, n - 11, block)
        put(n - 11, 0, block.T)
    fixed.flags.writeable = dark.flags.writeable = False
    return fixed, dark


def _version_bits(v: int) -> int:
    """The 18-bit version information: the version and its BCH(18,6) remainder."""
    rem = v << 12
    for i in range(17, 11, -1):
        if rem >> i & 1:
            rem ^= 0x1F25 << (i - 12)
    return v << 12 | rem


def pure(dark: Array) -> Frame:
    """The modules drawn as a clean upright code with its quiet zone."""
    fixed, pattern = function_patterns(dark.shape[0])
    dark = np.where(fixed, pattern, dark)
    img = np.pad(np.where(dark, 0, 255).astype(np.uint8), 4, constant_values=255)
    out: Frame = np.kron(img, np.ones((PURE_MODULE_PX, PURE_MODULE_PX), np.uint8))
    return out


def read_grids(
    img: Frame, read_pure: Callable[[Frame], list[str]], finders: list[Finder] | None = None
) -> list[str]:
    """Texts read from the module grids the frame's finder patterns give, first found wins."""
    for grid in grids(img, find_finders(img) if finders is None else finders):
        texts = read_pure(pure(modules_dark(sample(img, grid))))
        if texts:
            return texts
    return []
