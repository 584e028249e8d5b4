"""A simulated station camera: realistic grayscale frames of badges held up to it.

Two halves:

* a pure frame renderer (`render_badge_frame`, `render_empty_frame`, `badge_frames`): a badge
  card (or a phone showing the badge) posed in 3-D in front of a cluttered scene and photographed
  under one of the `Condition` s a real station meets: tilt, blur, glare, noise, dim light, ...
* `SimulatedCamera`, a `Camera` that plays a script of people presenting badges (or an endless
  stream of them, for the demo), with optional pacing and scripted failures.

It serves the tests, the demo and the decode benchmark. Only numpy and Pillow are used (no
OpenCV: a station may not have it). A 640x480 frame takes about 5-20 ms to render.

How a frame is made: a *look* (`_Look`) holds every random choice of one presentation (the pose
of the card, its printed design, light, exposure, blur, glare, noise); a *background* is the
static scene behind it. `_render` warps the card texture into the scene with a perspective
transform (supersampled, so a small code is area-averaged as a sensor would), blurs it like the
optics and a moving hand would, lights it, adds glare or a screen's moire, then sensor noise.
A camera keeps a presentation's look and background and jitters the pose a little from frame
to frame, like a hand.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFilter

from presensi.hardware.camera import CameraBase
from presensi.hardware.cameras import FramePacer
from presensi.hardware.errors import CameraError
from presensi.protocol.badge import BadgeToken

if TYPE_CHECKING:
    import numpy.typing as npt

    from presensi.hardware.camera import Frame

    FloatImage = npt.NDArray[np.float32]
    Matrix = npt.NDArray[np.float64]

Size = tuple[int, int]
"""(width, height) in pixels, as Pillow counts; a frame's numpy shape is (height, width)."""

Kind = Literal["card", "phone", "none"]

DEFAULT_SIZE: Size = (640, 480)
QUIET_ZONE = 4  # modules of light margin around the code, as the QR standard asks
_DEFAULT_MODULES = 41  # a version 6 code: what a typical badge token needs at level M


class Condition(enum.StrEnum):
    """What a station camera sees when a badge is held up to it."""

    CLEAN = "clean"  # a card held about square to the camera, in good light
    PERSPECTIVE = "perspective"  # card tilted 20-40 degrees
    DEFOCUS = "defocus"  # out of focus (Gaussian blur)
    MOTION = "motion"  # hand still moving (linear motion blur)
    GLARE = "glare"  # specular highlight on a laminated card, clipped whites
    NOISE = "noise"  # strong sensor noise with some salt and pepper
    LOW_LIGHT = "low_light"  # a dim bus pool at night: dark, low contrast, noisy
    UNEVEN_LIGHT = "uneven_light"  # steep light gradient, often a soft shadow across the card
    PHONE_SCREEN = "phone_screen"  # badge shown on a phone: bezel, moire, dimmer exposure
    PHONE_DARK = "phone_dark"  # ... in dark mode: light modules on a dark screen
    SMALL = "small"  # card far away: code 70-90 px wide (about 2 px per module)
    LARGE = "large"  # card close: code 300-370 px wide


CONDITIONS: tuple[Condition, ...] = tuple(Condition)
_PHONE = frozenset({Condition.PHONE_SCREEN, Condition.PHONE_DARK})

# width in pixels of the code (without quiet zone) when seen square-on, per condition
_CODE_WIDTH: dict[Condition, tuple[float, float]] = {
    Condition.SMALL: (70.0, 90.0),
    Condition.LARGE: (300.0, 370.0),
    Condition.PERSPECTIVE: (130.0, 220.0),
    Condition.PHONE_SCREEN: (120.0, 220.0),
    Condition.PHONE_DARK: (120.0, 220.0),
}
_CODE_WIDTH_DEFAULT = (110.0, 210.0)

_CARD_MM_WIDE, _CARD_ASPECT = 85.6, 85.6 / 54.0  # ISO/IEC 7810 ID-1
_PHONE_MM_WIDE = 72.0
_FOCAL = 0.83  # focal length in frame widths (about 62 degrees horizontal field of view)


# ------------------------------------------------------------------------------ badge texts


def sample_badge_text(rng: np.random.Generator, employee: str | None = None) -> str:
    """A realistic badge token text ("PRS1:" + Base32, 140-150 characters).

    It has the v1 layout (so it parses) with a random key id, serial and signature.
    """
    if employee is None:
        employee = "EMP-" + "".join(str(d) for d in rng.integers(0, 10, size=rng.integers(4, 9)))
    start = int(rng.integers(1_700_000_000, 1_800_000_000))
    token = BadgeToken(
        key_id=rng.bytes(4),
        serial=int(rng.integers(1, 2**31)),
        valid_from=start,
        valid_until=start + 365 * 86400,
        employee=employee,
        signature=rng.bytes(64),
    )
    return token.to_text()


# ------------------------------------------------------------------------------ geometry


@lru_cache(maxsize=4)
def _grid(size: Size) -> tuple[FloatImage, FloatImage]:
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


@lru_cache(maxsize=4)
def _radius2(size: Size) -> FloatImage:
    """Squared distance from the frame centre, 1.0 at the corners (for vignetting)."""
    w, h = size
    xs, ys = _grid(size)
    r2 = ((xs - w / 2) ** 2 + (ys - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    out: FloatImage = r2.astype(np.float32)
    return out


def _rotation(pitch: float, yaw: float, roll: float) -> Matrix:
    """Rotation for angles in degrees: roll in the card's plane, then tilt (pitch, yaw)."""
    p, y, r = (math.radians(a) for a in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    m: Matrix = rx @ ry @ rz
    return m


def _homography(src: Matrix, dst: Matrix) -> Matrix:
    """The 3x3 projective map taking the four points `src` to `dst` (arrays of shape (4, 2))."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    h: Matrix = np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)
    return h


def _apply(h: Matrix, pts: Matrix) -> Matrix:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    out: Matrix = p[:, :2] / p[:, 2:3]
    return out


# ------------------------------------------------------------------------------ textures


@dataclass(frozen=True)
class _Layout:
    """Where things are on a card or phone texture, in modules of its code."""

    width: int
    height: int
    mm_per_module: float
    code_origin: tuple[int, int]  # top-left module of the code itself, inside the quiet zone
    modules: int  # side of the code, in modules


@lru_cache(maxsize=64)
def _qr_matrix(text: str, error: str = "m") -> npt.NDArray[np.bool_]:
    qr = segno.make_qr(text, error=error, boost_error=False)
    return np.array(qr.matrix, dtype=bool)


def _layout(kind: Kind, modules: int) -> _Layout:
    block = modules + 2 * QUIET_ZONE
    if kind == "phone":
        screen_w = round(block * 1.2)
        width = screen_w + 2 * max(2, round(0.05 * screen_w))
        height = round(width * 2.08)
        x0 = (width - block) // 2
        y0 = round(height * 0.3)
        mm = _PHONE_MM_WIDE / width
    else:
        height = round(block * 74 / 49)
        width = round(height * _CARD_ASPECT)
        header = round(0.16 * height)
        x0 = width - block - max(2, round(0.025 * width))
        y0 = header + (height - header - block) // 2
        mm = _CARD_MM_WIDE / width
    return _Layout(width, height, mm, (x0 + QUIET_ZONE, y0 + QUIET_ZONE), modules)


def _word_marks(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    line_h: float,
    fill: int,
    rng: np.random.Generator,
) -> None:
    """Lines of text-like marks (words as bars of random width) inside `box`."""
    x0, y0, x1, y1 = box
    y = y0
    while y + line_h <= y1:
        x = x0
        end = x0 + (x1 - x0) * float(rng.uniform(0.5, 1.0))
        while True:
            word = line_h * float(rng.uniform(1.2, 5.0))
            if x + word > end:
                break
            top = y + line_h * float(rng.uniform(0.0, 0.2))
            draw.rectangle((x, top, x + word, y + line_h * 0.8), fill=fill)
            x += word + line_h * float(rng.uniform(0.5, 0.9))
        y += line_h * float(rng.uniform(1.6, 2.2))


@lru_cache(maxsize=6)  # a few presentations; each entry can be megabytes
def _texture(
    text: str | None, kind: Kind, dark: bool, mp: int, style: int, error: str = "m"
) -> tuple[Image.Image, Image.Image, _Layout]:
    """A card or phone at `mp` pixels per module: ("LA" image, emitting-pixels mask, layout).

    In the "LA" image L is the luminance (0-255) and A the object's outline; the mask marks a
    phone's screen, which shines rather than reflects. `style` seeds the printed design so a
    presentation keeps its card. With no `text` the code's place holds a logo and more text.
    """
    rng = np.random.default_rng(style)
    matrix = None if text is None else _qr_matrix(text, error)
    lay = _layout(kind, _DEFAULT_MODULES if matrix is None else matrix.shape[0])
    w, h = lay.width * mp, lay.height * mp
    lum = Image.new("L", (w, h), 0)
    alpha = Image.new("L", (w, h), 0)
    emit = Image.new("L", (w, h), 0)
    if kind == "phone":
        ImageDraw.Draw(alpha).rounded_rectangle((0, 0, w - 1, h - 1), radius=8 * mp, fill=255)
        back, fore = _draw_phone(
            ImageDraw.Draw(lum), ImageDraw.Draw(emit), lay, mp, dark=dark, rng=rng
        )
    else:
        ImageDraw.Draw(alpha).rounded_rectangle((0, 0, w - 1, h - 1), radius=3 * mp, fill=255)
        back, fore = _draw_card(ImageDraw.Draw(lum), lay, mp, rng)
    # the quiet zone, then the code (in dark mode: light modules on the dark screen)
    block = lay.modules + 2 * QUIET_ZONE
    cx, cy = lay.code_origin
    qx0, qy0 = (cx - QUIET_ZONE) * mp, (cy - QUIET_ZONE) * mp
    d = ImageDraw.Draw(lum)
    d.rectangle((qx0, qy0, qx0 + block * mp - 1, qy0 + block * mp - 1), fill=back)
    if matrix is not None:
        lum_arr = np.array(lum)
        big = np.kron(matrix, np.ones((mp, mp), dtype=bool))
        rows, cols = slice(cy * mp, cy * mp + big.shape[0]), slice(cx * mp, cx * mp + big.shape[1])
        lum_arr[rows, cols] = np.where(big, fore, back)
        lum = Image.fromarray(lum_arr)
    else:  # no code: a logo and a slogan where it would be
        r = lay.modules * mp * 0.33
        ccx, ccy = (cx + lay.modules / 2) * mp, (cy + lay.modules * 0.4) * mp
        d.ellipse((ccx - r, ccy - r, ccx + r, ccy + r), outline=fore, width=max(2, mp * 2))
        tri = [(ccx, ccy - 0.7 * r), (ccx + 0.6 * r, ccy + 0.5 * r), (ccx - 0.6 * r, ccy + 0.5 * r)]
        d.polygon(tri, fill=fore)
        slogan = (cx * mp, ccy + 1.2 * r, (cx + lay.modules) * mp, (cy + lay.modules) * mp)
        _word_marks(d, slogan, 1.5 * mp, fore, rng)
    return Image.merge("LA", (lum, alpha)), emit, lay


def _draw_card(
    d: ImageDraw.ImageDraw, lay: _Layout, mp: int, rng: np.random.Generator
) -> tuple[int, int]:
    """An ID card's print: header band, photo, name and text lines. Returns (paper, ink)."""
    w, h = lay.width * mp, lay.height * mp
    paper, ink = int(rng.integers(215, 246)), int(rng.integers(15, 50))
    d.rectangle((0, 0, w, h), fill=paper)
    header = round(0.16 * lay.height) * mp
    band = int(rng.integers(50, 170))
    d.rectangle((0, 0, w, header), fill=band)
    band_text = paper if band < 115 else ink
    _word_marks(d, (3 * mp, header * 0.25, w * 0.75, header * 0.85), header * 0.3, band_text, rng)
    px0, py0, px1, py1 = 3 * mp, header + 4 * mp, round(0.24 * w), header + round(0.5 * h)
    d.rectangle((px0, py0, px1, py1), fill=int(rng.integers(90, 180)))  # the photo
    pw, ph = px1 - px0, py1 - py0
    face = (px0 + 0.25 * pw, py0 + 0.12 * ph, px1 - 0.25 * pw, py0 + 0.7 * ph)
    d.ellipse(face, fill=int(rng.integers(110, 200)))
    d.rectangle((px0, py0 + 0.75 * ph, px1, py1), fill=int(rng.integers(30, 120)))
    text_x1 = (lay.code_origin[0] - QUIET_ZONE - 2) * mp
    _word_marks(d, (px1 + 2 * mp, py0, text_x1, py1), 2.2 * mp, ink, rng)
    _word_marks(d, (3 * mp, py1 + 3 * mp, text_x1, h - 3 * mp), 1.6 * mp, ink, rng)
    return paper, ink


def _draw_phone(
    d: ImageDraw.ImageDraw,
    emit: ImageDraw.ImageDraw,
    lay: _Layout,
    mp: int,
    *,
    dark: bool,
    rng: np.random.Generator,
) -> tuple[int, int]:
    """A phone showing the badge in its app: bezel, screen, UI text. Returns (background, ink)."""
    w, h = lay.width * mp, lay.height * mp
    block = lay.modules + 2 * QUIET_ZONE
    d.rectangle((0, 0, w, h), fill=int(rng.integers(12, 40)))  # the bezel
    side = (lay.width - round(block * 1.2)) // 2 * mp
    sx0, sy0, sx1, sy1 = side, round(0.05 * h), w - side, h - round(0.05 * h)
    emit.rounded_rectangle((sx0, sy0, sx1, sy1), radius=3 * mp, fill=255)
    if dark:
        back, fore = int(rng.integers(8, 32)), int(rng.integers(180, 240))
    else:
        back, fore = int(rng.integers(230, 256)), int(rng.integers(0, 30))
    d.rounded_rectangle((sx0, sy0, sx1, sy1), radius=3 * mp, fill=back)
    qy0 = lay.code_origin[1] - QUIET_ZONE
    _word_marks(d, (sx0 + 2 * mp, sy0 + mp, sx1 - 2 * mp, sy0 + 3 * mp), 1.2 * mp, fore, rng)
    title = (sx0 + 4 * mp, sy0 + 6 * mp, sx1 - 4 * mp, (qy0 - 2) * mp)
    _word_marks(d, title, 2.5 * mp, fore, rng)
    below = (sx0 + 4 * mp, (qy0 + block + 3) * mp, sx1 - 4 * mp, sy1 - 14 * mp)
    _word_marks(d, below, 1.8 * mp, fore, rng)
    button = (sx0 + 8 * mp, sy1 - 11 * mp, sx1 - 8 * mp, sy1 - 5 * mp)
    d.rounded_rectangle(button, radius=2 * mp, fill=fore)
    return back, fore


# ------------------------------------------------------------------------------ looks


@dataclass(frozen=True)
class _Glare:
    u: float  # centre, as a fraction of the code width from the code's centre (card plane)
    v: float
    a: float  # semi-axes, as fractions of the code width
    b: float
    angle: float  # radians
    peak: float  # added luminance at the centre (clips far above 255)


@dataclass(frozen=True)
class _Shadow:
    angle: float  # direction of the shadow's edge normal (radians)
    offset: float  # edge position: distance from the code centre along the normal (px)
    softness: float  # px
    depth: float  # light multiplier inside the shadow


@dataclass(frozen=True)
class _Moire:
    period: float  # px
    angle: float
    beat: float  # px, period of the beat envelope
    amplitude: float  # relative
    grid: float  # relative amplitude of the fine pixel grid


@dataclass(frozen=True)
class _Thumb:
    side: int  # the code edge it comes over: 0 left, 1 right, 2 bottom, 3 top
    along: float  # where along that edge (0-1)
    reach: float  # how far into the code, as a fraction of the code width
    width: float  # the thumb's width, as a fraction of the code width


@dataclass(frozen=True)
class _Look:
    """Every random choice of one presentation (see the module docstring)."""

    condition: Condition
    kind: Kind
    dark: bool
    style: int  # seeds the printed design
    code_px: float  # code width seen square-on
    pitch: float  # degrees
    yaw: float
    roll: float
    center: tuple[float, float]  # code centre in the frame (px)
    mp: int  # texture pixels per module
    ss: int  # supersampling factor of the warp
    exposure: float  # gain on reflected light
    black: float  # black level
    light_angle: float  # direction of the light gradient (radians)
    light_lo: float  # light multiplier at the dark end of the gradient ...
    light_hi: float  # ... and at the bright end
    vignette: float  # light lost in the frame corners
    shadow: _Shadow | None
    blur: float  # Gaussian blur radius (optics, focus)
    motion: tuple[float, float] | None  # length (px) and angle (radians) of motion blur
    glare: _Glare | None
    read_noise: float  # sigma of signal-independent noise
    shot_noise: float  # variance per unit of signal
    salt: float  # fraction of pixels stuck black or white
    screen_gain: float  # a phone screen's brightness as the camera exposes for the scene
    screen_floor: float  # ambient light reflected off the screen glass
    moire: _Moire | None
    skin: int  # luminance of the hand holding the card
    # stresses of the field generator (`field_frames`); `render_badge_frame` leaves them off
    error: str = "m"  # the code's error-correction level (segno: l, m, q, h)
    keystone: tuple[tuple[float, float], ...] | None = None  # code corners moved, in code widths
    bend: float = 0.0  # card bowed round its vertical axis: sagitta / half width (sign: which way)
    thumb: _Thumb | None = None  # a thumb over part of the code


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _sample_look(
    rng: np.random.Generator, condition: Condition, size: Size, kind: Kind | None = None
) -> _Look:
    width, height = size
    if kind is None:
        kind = "phone" if condition in _PHONE else "card"
    lo, hi = _CODE_WIDTH.get(condition, _CODE_WIDTH_DEFAULT)
    code_px = _u(rng, lo, hi) * width / 640
    if condition is Condition.PERSPECTIVE:
        tilt, phi = _u(rng, 20, 40), _u(rng, 0, 2 * math.pi)
        pitch, yaw = tilt * math.cos(phi), tilt * math.sin(phi)
    else:  # nobody holds a card exactly square to the camera
        pitch, yaw = (float(np.clip(rng.normal(0, 6), -14, 14)) for _ in range(2))
    roll = _u(rng, -180, 180) if rng.random() < 0.1 else float(np.clip(rng.normal(0, 12), -35, 35))
    ppm = code_px / _DEFAULT_MODULES * math.cos(math.radians(max(abs(pitch), abs(yaw))))
    ss = 1 if ppm >= 4 else 2 if ppm >= 2 else 3
    look = _Look(
        condition=condition,
        kind=kind,
        dark=condition is Condition.PHONE_DARK,
        style=int(rng.integers(2**31)),
        code_px=code_px,
        pitch=pitch,
        yaw=yaw,
        roll=roll,
        center=(width / 2, height / 2),
        mp=int(np.clip(math.ceil(ss * code_px / _DEFAULT_MODULES * 1.2), 2, 12)),
        ss=ss,
        exposure=_u(rng, 0.85, 1.1),
        black=_u(rng, 0, 5),
        light_angle=_u(rng, 0, 2 * math.pi),
        light_lo=_u(rng, 0.75, 0.95),
        light_hi=_u(rng, 1.0, 1.08),
        vignette=_u(rng, 0.05, 0.25),
        shadow=None,
        blur=_u(rng, 0.5, 0.9),
        motion=None,
        glare=None,
        read_noise=_u(rng, 1.0, 2.5),
        shot_noise=_u(rng, 0.02, 0.06),
        salt=0.0,
        screen_gain=1.0,
        screen_floor=0.0,
        moire=None,
        skin=int(rng.integers(90, 200)),
    )
    specialise = _SPECIALISE.get(condition)
    if specialise is not None:
        look = specialise(look, rng)
    return _place(rng, look, size)


def _defocus(look: _Look, rng: np.random.Generator) -> _Look:
    ppm = look.code_px / _DEFAULT_MODULES
    return replace(look, blur=float(np.clip(ppm * _u(rng, 0.3, 0.45), 1.2, 2.8)))


def _motion(look: _Look, rng: np.random.Generator) -> _Look:
    return replace(look, motion=_sample_motion(rng, look.code_px / _DEFAULT_MODULES))


def _glaring(look: _Look, rng: np.random.Generator) -> _Look:
    glare = _Glare(
        u=_u(rng, -0.45, 0.45),
        v=_u(rng, -0.45, 0.45),
        a=_u(rng, 0.15, 0.3),
        b=_u(rng, 0.06, 0.15),
        angle=_u(rng, 0, math.pi),
        peak=_u(rng, 180, 320),
    )
    return replace(look, glare=glare)


def _noisy(look: _Look, rng: np.random.Generator) -> _Look:
    return replace(
        look, read_noise=_u(rng, 6, 11), shot_noise=_u(rng, 0.1, 0.3), salt=_u(rng, 0.001, 0.005)
    )


def _low_light(look: _Look, rng: np.random.Generator) -> _Look:
    return replace(
        look,
        exposure=_u(rng, 0.2, 0.32),
        black=_u(rng, 4, 12),
        read_noise=_u(rng, 1.5, 3.5),
        shot_noise=_u(rng, 0.15, 0.4),
        blur=_u(rng, 0.7, 1.2),
        light_lo=_u(rng, 0.6, 0.9),
    )


def _uneven(look: _Look, rng: np.random.Generator) -> _Look:
    shadow = None
    if rng.random() < 0.6:
        shadow = _Shadow(
            angle=_u(rng, 0, 2 * math.pi),
            offset=_u(rng, -0.4, 0.4) * look.code_px,
            softness=_u(rng, 3, 15),
            depth=_u(rng, 0.4, 0.7),
        )
    return replace(look, light_lo=_u(rng, 0.3, 0.55), light_hi=_u(rng, 1.0, 1.2), shadow=shadow)


def _screen(look: _Look, rng: np.random.Generator) -> _Look:
    moire = _Moire(
        period=_u(rng, 4, 12),
        angle=_u(rng, 0, math.pi),
        beat=_u(rng, 30, 120),
        amplitude=_u(rng, 0.05, 0.15),
        grid=_u(rng, 0.02, 0.06),
    )
    return replace(
        look,
        exposure=look.exposure * _u(rng, 0.45, 0.7),
        screen_gain=_u(rng, 0.85, 1.25),  # above 1 the screen's whites clip
        screen_floor=_u(rng, 10, 50),  # lamps reflected in the glass
        moire=moire,
    )


def _close_up(look: _Look, rng: np.random.Generator) -> _Look:
    return replace(look, blur=_u(rng, 0.8, 1.6))  # a fixed-focus lens is a little soft up close


_SPECIALISE: dict[Condition, Callable[[_Look, np.random.Generator], _Look]] = {
    Condition.DEFOCUS: _defocus,
    Condition.MOTION: _motion,
    Condition.GLARE: _glaring,
    Condition.NOISE: _noisy,
    Condition.LOW_LIGHT: _low_light,
    Condition.UNEVEN_LIGHT: _uneven,
    Condition.PHONE_SCREEN: _screen,
    Condition.PHONE_DARK: _screen,
    Condition.LARGE: _close_up,
}


def _sample_motion(rng: np.random.Generator, ppm: float) -> tuple[float, float]:
    return float(np.clip(ppm * _u(rng, 0.6, 1.3), 3, 8)), _u(rng, 0, math.pi)


def _place(rng: np.random.Generator, look: _Look, size: Size) -> _Look:
    """Pick where the code is in the frame so that it is whole; shrink it if it cannot be."""
    width, height = size
    for attempt in range(40):
        code_px = look.code_px * (0.97 ** max(0, attempt - 20))
        m = code_px * 0.6
        cx = _u(rng, min(m, width / 2), max(width - m, width / 2))
        cy = _u(rng, min(m, height / 2), max(height - m, height / 2))
        candidate = replace(look, code_px=code_px, center=(cx, cy))
        if _fits(candidate, size):
            return candidate
    return replace(look, center=(width / 2, height / 2), pitch=0.0, yaw=0.0)


def _fits(look: _Look, size: Size) -> bool:
    """Whether the code, with a little of its quiet zone, is inside the frame."""
    pose = _pose(look, size)
    if pose is None:
        return False
    _, code_quad = pose
    width, height = size
    margin = max(3.0, 1.5 * look.code_px / _DEFAULT_MODULES)
    xs, ys = code_quad[:, 0], code_quad[:, 1]
    return bool(
        (xs >= margin).all()
        and (xs <= width - margin).all()
        and (ys >= margin).all()
        and (ys <= height - margin).all()
    )


def _jitter(look: _Look, base: _Look, rng: np.random.Generator, size: Size) -> _Look:
    """The presentation one frame later: the hand wobbles around where it started (`base`)."""

    def wobble(now: float, start: float, sigma: float) -> float:
        return start + 0.6 * (now - start) + float(rng.normal(0, sigma))

    s = base.code_px / 150
    moved = replace(
        look,
        center=(
            wobble(look.center[0], base.center[0], 1.5 * s),
            wobble(look.center[1], base.center[1], 1.5 * s),
        ),
        pitch=wobble(look.pitch, base.pitch, 0.8),
        yaw=wobble(look.yaw, base.yaw, 0.8),
        roll=wobble(look.roll, base.roll, 0.6),
        code_px=wobble(look.code_px, base.code_px, 0.01 * base.code_px),
    )
    if not _fits(moved, size):
        moved = look
    if look.motion is not None:
        moved = replace(moved, motion=_sample_motion(rng, look.code_px / _DEFAULT_MODULES))
    return moved


# ------------------------------------------------------------------------------ pose


def _projector(
    look: _Look, size: Size, modules: int
) -> tuple[Callable[[Matrix], Matrix | None], _Layout]:
    """A function taking texture pixels to frame pixels for this pose (None: behind the camera),
    with the card bowed if `look.bend`, and the texture's layout."""
    width, height = size
    lay = _layout(look.kind if look.kind != "none" else "card", modules)
    f = _FOCAL * width
    code_mm = modules * lay.mm_per_module
    z = f * code_mm / look.code_px
    cx, cy = look.center
    t = np.array([z * (cx - width / 2) / f, z * (cy - height / 2) / f, z])
    rot = _rotation(look.pitch, look.yaw, look.roll)
    # texture pixel -> millimetres on the card, with the code's centre at the origin
    mp = look.mp
    ox = (lay.code_origin[0] + modules / 2) * mp
    oy = (lay.code_origin[1] + modules / 2) * mp
    k = lay.mm_per_module / mp
    half_w = lay.width * mp * k / 2
    card_cx = (lay.width * mp / 2 - ox) * k  # the card's centre column, in mm from the code's

    def project(pts: Matrix) -> Matrix | None:
        x, y = (pts[:, 0] - ox) * k, (pts[:, 1] - oy) * k
        depth = np.zeros(len(pts))
        if look.bend:
            sag = look.bend * half_w  # a circular arc through the card's centre column
            radius = (half_w**2 + sag**2) / (2 * sag)
            arc = (x - card_cx) / radius
            x = card_cx + radius * np.sin(arc)
            depth = -radius * (1 - np.cos(arc))  # edges come towards the camera (sag > 0)
        cam = np.c_[x, y, depth] @ rot.T + t
        if (cam[:, 2] < 0.25 * z).any():
            return None
        out: Matrix = np.c_[
            f * cam[:, 0] / cam[:, 2] + width / 2, f * cam[:, 1] / cam[:, 2] + height / 2
        ]
        return out

    return project, lay


def _keystone(look: _Look, code: Matrix, card: Matrix) -> Matrix | None:
    """The frame-space map that moves the code's corners by `look.keystone` (None: no move).

    None too if that map would put a corner of the card (`card`, frame pixels) more than twice
    as far as another, or behind its horizon: no camera sees a card so; the pose alone stays.
    """
    if look.keystone is None:
        return None
    target = code + np.array(look.keystone) * look.code_px
    shift = _homography(code, target)
    depth = np.c_[card, np.ones(len(card))] @ shift[2]
    if not (depth > 0).all() or depth.min() < 0.5 * depth.max():
        return None
    return shift


def _code_quad(lay: _Layout, mp: int, modules: int) -> Matrix:
    x0, y0 = lay.code_origin[0] * mp, lay.code_origin[1] * mp
    x1, y1 = x0 + modules * mp, y0 + modules * mp
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _pose(look: _Look, size: Size, modules: int = _DEFAULT_MODULES) -> tuple[Matrix, Matrix] | None:
    """(texture->frame homography, frame corners of the code), None if behind the camera.

    For a bowed card the homography is the flat card's through the same code corners; the
    renderer draws the bow in strips (`_strips`)."""
    project, lay = _projector(look, size, modules)
    mp = look.mp
    w, h = lay.width * mp, lay.height * mp
    tex_corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float)
    frame_corners = project(tex_corners)
    code_tex = _code_quad(lay, mp, modules)
    code = project(code_tex)
    if frame_corners is None or code is None:
        return None
    homography = _homography(tex_corners, frame_corners)
    if look.bend:  # the plane through the bowed code's corners
        homography = _homography(code_tex, code)
    shift = _keystone(look, code, frame_corners)
    if shift is not None:
        homography = shift @ homography
        code = _apply(shift, code)
    return homography, code


def _strips(look: _Look, size: Size, modules: int, n: int = 12) -> list[tuple[int, int, Matrix]]:
    """A bowed card as `n` flat vertical strips: (first texture column, last, homography)."""
    project, lay = _projector(look, size, modules)
    w, h = lay.width * look.mp, lay.height * look.mp
    code = project(_code_quad(lay, look.mp, modules))
    card = project(np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float))
    shift = None if code is None or card is None else _keystone(look, code, card)
    out = []
    edges = np.linspace(0, w, n + 1)
    for x0, x1 in itertools.pairwise(edges):
        tex = np.array([[x0, 0], [x1, 0], [x1, h], [x0, h]], dtype=float)
        frame = project(tex)
        if frame is None:
            continue
        hom = _homography(tex, frame)
        out.append((int(x0), math.ceil(x1), hom if shift is None else shift @ hom))
    return out


# ------------------------------------------------------------------------------ scenes


def _background(rng: np.random.Generator, size: Size, clutter: int) -> npt.NDArray[np.uint8]:
    """A static scene: a lit wall or room with fixtures, lines and `clutter` distractors."""
    width, height = size
    xs, ys = _grid(size)
    base = _u(rng, 60, 170)
    gx, gy = _u(rng, -50, 50), _u(rng, -50, 50)
    blotch = Image.fromarray((rng.random((6, 8)) * 255).astype(np.uint8)).resize(
        size, Image.Resampling.BILINEAR
    )
    field = base + gx * (xs / width - 0.5) + gy * (ys / height - 0.5)
    field += (np.asarray(blotch, dtype=np.float32) - 128) * _u(rng, 0.05, 0.25)
    img = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):  # door frames, posters, windows, furniture
        x0, y0 = _u(rng, -0.2, 1.0) * width, _u(rng, -0.2, 1.0) * height
        x1, y1 = x0 + _u(rng, 0.05, 0.6) * width, y0 + _u(rng, 0.05, 0.6) * height
        outline = int(rng.integers(0, 256)) if rng.random() < 0.5 else None
        d.rectangle(
            (x0, y0, x1, y1),
            fill=int(rng.integers(20, 236)),
            outline=outline,
            width=int(rng.integers(1, 5)),
        )
    for _ in range(int(rng.integers(2, 7))):  # cables, edges, shelves
        pts = [(_u(rng, 0, width), _u(rng, 0, height)) for _ in range(2)]
        d.line(pts, fill=int(rng.integers(0, 256)), width=int(rng.integers(1, 5)))
    for _ in range(clutter):
        _distractor(img, rng)
    return np.array(img)


def _distractor(img: Image.Image, rng: np.random.Generator) -> None:
    """Something that is not a QR code but may look like part of one to a decoder."""
    width, height = img.size
    cell = int(rng.integers(3, 14))
    n = int(rng.integers(4, 14))
    side = cell * n
    patch = Image.new("L", (side + 2 * cell, side + 2 * cell), int(rng.integers(180, 250)))
    d = ImageDraw.Draw(patch)
    ink = int(rng.integers(0, 70))
    what = rng.integers(0, 6)
    if what == 0:  # checkerboard (calibration targets, floor tiles)
        for i in range(n):
            for j in range(n):
                if (i + j) % 2:
                    d.rectangle(
                        (
                            cell + i * cell,
                            cell + j * cell,
                            cell + (i + 1) * cell - 1,
                            cell + (j + 1) * cell - 1,
                        ),
                        fill=ink,
                    )
    elif what == 1:  # text (notices, labels)
        _word_marks(d, (cell, cell, side + cell, side + cell), max(4.0, cell * 0.9), ink, rng)
    elif what == 2:  # stripes, like a 1-D barcode or blinds
        x = cell
        while x < side:
            bar = int(rng.integers(1, 5)) * max(1, cell // 3)
            d.rectangle((x, cell, x + bar - 1, side), fill=ink)
            x += bar + int(rng.integers(1, 5)) * max(1, cell // 3)
    elif what == 3:  # random blocks, like a patterned fabric or a 2-D code without finders
        cells = rng.random((n, n)) < 0.5
        big = np.kron(cells, np.ones((cell, cell), dtype=bool))
        arr = np.array(patch)
        arr[cell : cell + side, cell : cell + side][big] = ink
        patch = Image.fromarray(arr)
    elif what == 4:  # concentric squares, like a logo or one finder pattern alone
        for k, fill in enumerate((ink, 255, ink)):
            inset = k * side // 7
            d.rectangle(
                (cell + inset, cell + inset, cell + side - inset, cell + side - inset), fill=fill
            )
    else:  # a grid of lines (a keyboard, a cage, tiles)
        for i in range(n + 1):
            d.line(
                (cell + i * cell, cell, cell + i * cell, cell + side),
                fill=ink,
                width=max(1, cell // 4),
            )
            d.line(
                (cell, cell + i * cell, cell + side, cell + i * cell),
                fill=ink,
                width=max(1, cell // 4),
            )
    mask = Image.new("L", patch.size, 255)
    angle = _u(rng, 0, 360)
    patch = patch.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    mask = mask.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    img.paste(
        patch, (int(rng.integers(-side // 2, width)), int(rng.integers(-side // 2, height))), mask
    )


# ------------------------------------------------------------------------------ rendering


def _render(
    text: str | None,
    look: _Look,
    background: npt.NDArray[np.uint8],
    rng: np.random.Generator,
) -> Frame:
    height, width = background.shape
    size = (width, height)
    scene = Image.fromarray(background)
    alpha_full, emit_full = _card(scene, text, look) if look.kind != "none" else (None, None)
    if look.blur > 0:
        scene = scene.filter(ImageFilter.GaussianBlur(look.blur))
    img = np.asarray(scene, dtype=np.float32)
    if look.motion is not None:
        img = _motion_blur(img, *look.motion)
    light = _illumination(look, size)
    if emit_full is not None:
        screen = img * look.screen_gain + look.screen_floor
        if look.moire is not None:
            screen *= _moire(look.moire, size)
        out = img * light * (1 - emit_full) + screen * emit_full
    else:
        out = img * light
    if look.glare is not None and alpha_full is not None:
        out += _glare(look, size) * alpha_full
    out += look.black
    sigma = np.sqrt(look.read_noise**2 + look.shot_noise * np.clip(out, 0, None))
    out += rng.standard_normal(out.shape, dtype=np.float32) * sigma
    if look.salt > 0:
        n = int(look.salt * out.size)
        flat = out.reshape(-1)
        flat[rng.integers(0, out.size, n)] = rng.choice(np.array([0.0, 255.0], np.float32), n)
    frame: Frame = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return frame


def _card(
    scene: Image.Image, text: str | None, look: _Look
) -> tuple[FloatImage | None, FloatImage | None]:
    """Draw the hand and the card (or phone) into the scene: (card coverage, screen coverage)."""
    width, height = scene.size
    modules = _DEFAULT_MODULES if text is None else _qr_matrix(text, look.error).shape[0]
    pose = _pose(look, scene.size, modules)
    if pose is None:
        return None, None
    la, emit, lay = _texture(text, look.kind, look.dark, look.mp, look.style, look.error)
    homography, _ = pose
    _hand(scene, homography, la.size, look, behind=True)
    pieces = _strips(look, scene.size, modules) if look.bend else [(0, la.size[0], homography)]
    alpha_full = np.zeros((height, width), np.float32)
    emit_full = np.zeros((height, width), np.float32) if look.kind == "phone" else None
    screen = emit if look.kind == "phone" else None
    for piece in pieces:
        _paste(scene, la, screen, piece, look.ss, alpha_full, emit_full)
    _hand(scene, homography, la.size, look, behind=False)
    if look.thumb is not None:
        _thumb(scene, homography, lay, look, modules)
    return alpha_full, emit_full


def _paste(
    scene: Image.Image,
    la: Image.Image,
    emit: Image.Image | None,
    piece: tuple[int, int, Matrix],
    ss: int,
    alpha_full: FloatImage,
    emit_full: FloatImage | None,
) -> None:
    """Warp columns x0..x1 of the texture with `hom` into the scene; record its coverage."""
    x0, x1, hom = piece
    w = la.size[0]
    if (x0, x1) != (0, w):  # a strip of a bowed card: overlap its neighbours by 2 px, no seams
        x0, x1 = max(0, x0 - 2), min(w, x1 + 2)
        la = la.crop((x0, 0, x1, la.size[1]))
        emit = None if emit is None else emit.crop((x0, 0, x1, emit.size[1]))
        hom = hom @ np.array([[1.0, 0, x0], [0, 1, 0], [0, 0, 1]])
    box, warped, warped_emit = _warp(la, emit, hom, ss, scene.size)
    if warped is None:
        return
    lum, alpha = warped.split()
    scene.paste(lum, box[:2], alpha)
    rows, cols = slice(box[1], box[3]), slice(box[0], box[2])
    cover = alpha_full[rows, cols]
    np.maximum(cover, np.asarray(alpha, np.float32) / 255, out=cover)
    if warped_emit is not None and emit_full is not None:
        screen = emit_full[rows, cols]
        np.maximum(screen, np.asarray(warped_emit, np.float32) / 255, out=screen)


def _thumb(scene: Image.Image, homography: Matrix, lay: _Layout, look: _Look, modules: int) -> None:
    """A thumb over one edge of the code, reaching `thumb.reach` code widths into it."""
    assert look.thumb is not None
    th, mp = look.thumb, look.mp
    side = modules * mp
    x0, y0 = lay.code_origin[0] * mp, lay.code_origin[1] * mp
    across, along = 0.45 * side, th.width * side / 2  # semi-axes: a thumb is longer than wide
    inside = th.reach * side
    t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    u, v = across * np.cos(t), along * np.sin(t)  # u: into the code, v: along its edge
    pos = th.along * side
    if th.side == 0:
        pts = np.c_[x0 + inside - across + u, y0 + pos + v]
    elif th.side == 1:
        pts = np.c_[x0 + side - inside + across - u, y0 + pos + v]
    elif th.side == 2:
        pts = np.c_[x0 + pos + v, y0 + side - inside + across - u]
    else:
        pts = np.c_[x0 + pos + v, y0 + inside - across + u]
    poly = [(float(x), float(y)) for x, y in _apply(homography, pts)]
    ImageDraw.Draw(scene).polygon(poly, fill=min(255, look.skin + 10))


def _warp(
    la: Image.Image, emit: Image.Image | None, homography: Matrix, ss: int, size: Size
) -> tuple[tuple[int, int, int, int], Image.Image | None, Image.Image | None]:
    """Warp the texture into its bounding box in the frame: (box, "LA" image, emit mask)."""
    width, height = size
    w, h = la.size
    corners = _apply(homography, np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float))
    x0 = max(0, math.floor(corners[:, 0].min()))
    y0 = max(0, math.floor(corners[:, 1].min()))
    x1 = min(width, math.ceil(corners[:, 0].max()))
    y1 = min(height, math.ceil(corners[:, 1].max()))
    box = (x0, y0, x1, y1)
    if x1 <= x0 or y1 <= y0:
        return box, None, None
    to_box = np.array([[1 / ss, 0, x0], [0, 1 / ss, y0], [0, 0, 1]])
    inverse = np.linalg.inv(homography) @ to_box
    inverse /= inverse[2, 2]
    coeffs = tuple(float(c) for c in inverse.reshape(-1)[:8])
    out_size = ((x1 - x0) * ss, (y1 - y0) * ss)
    # supersampled: nearest then box-averaged; else bilinear
    resample = Image.Resampling.NEAREST if ss > 1 else Image.Resampling.BILINEAR
    warped = la.transform(out_size, Image.Transform.PERSPECTIVE, coeffs, resample=resample)
    warped_emit = None
    if emit is not None:
        warped_emit = emit.transform(
            out_size, Image.Transform.PERSPECTIVE, coeffs, resample=resample
        )
    if ss > 1:
        warped = warped.reduce(ss)
        warped_emit = None if warped_emit is None else warped_emit.reduce(ss)
    return box, warped, warped_emit


def _hand(
    scene: Image.Image, homography: Matrix, tex_size: Size, look: _Look, *, behind: bool
) -> None:
    """The hand holding the card: a palm behind its lower edge, a thumb over its rim."""
    w, h = tex_size
    if look.kind == "phone":
        palm_at, thumb_at = (0.5 * w, 1.0 * h), (0.0, 0.7 * h)
    else:
        palm_at, thumb_at = (0.12 * w, 1.0 * h), (0.0, 0.78 * h)
    pts = _apply(homography, np.array([palm_at, thumb_at, [0, 0], [w, 0]], dtype=float))
    card_w = float(np.hypot(*(pts[3] - pts[2])))
    d = ImageDraw.Draw(scene)
    if behind:
        (px, py), r = pts[0], 0.3 * card_w
        d.ellipse((px - r, py - 0.8 * r, px + r, py + 1.2 * r), fill=look.skin)
        d.ellipse(
            (px - 0.9 * r, py - 0.5 * r, px + 0.7 * r, py + 1.1 * r), fill=max(0, look.skin - 25)
        )
    else:
        (tx, ty), r = pts[1], 0.07 * card_w
        d.ellipse((tx - 1.4 * r, ty - r, tx + 0.9 * r, ty + r), fill=min(255, look.skin + 10))


def _motion_blur(img: FloatImage, length: float, angle: float) -> FloatImage:
    """Average of copies shifted along a line of `length` pixels at `angle` (radians)."""
    steps = max(2, round(length))
    pad = steps
    padded = np.pad(img, pad, mode="edge")
    acc = np.zeros_like(img)
    h, w = img.shape
    for i in range(steps):
        t = (i / (steps - 1) - 0.5) * length
        dx, dy = round(t * math.cos(angle)), round(t * math.sin(angle))
        acc += padded[pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    out: FloatImage = acc / np.float32(steps)
    return out


def _illumination(look: _Look, size: Size) -> FloatImage:
    width, height = size
    xs, ys = _grid(size)
    c, s = math.cos(look.light_angle), math.sin(look.light_angle)
    ends = [x * c + y * s for x in (0, width) for y in (0, height)]
    lo_end, hi_end = min(ends), max(ends)
    t = (xs * np.float32(c) + ys * np.float32(s) - np.float32(lo_end)) / np.float32(hi_end - lo_end)
    light = np.float32(look.light_lo) + np.float32(look.light_hi - look.light_lo) * t
    light *= 1 - np.float32(look.vignette) * _radius2(size)
    if look.shadow is not None:
        sh = look.shadow
        nx, ny = math.cos(sh.angle), math.sin(sh.angle)
        cx, cy = look.center
        dist = (
            (xs - np.float32(cx)) * np.float32(nx)
            + (ys - np.float32(cy)) * np.float32(ny)
            - np.float32(sh.offset)
        )
        inside = 0.5 * (1 + np.tanh(dist / np.float32(2 * sh.softness)))
        light *= 1 - np.float32(1 - sh.depth) * inside
    out: FloatImage = light * np.float32(look.exposure)
    return out


def _glare(look: _Look, size: Size) -> FloatImage:
    """The specular highlight: a bright elliptical blob near the code, zero elsewhere."""
    assert look.glare is not None
    g = look.glare
    width, height = size
    rot = math.radians(look.roll)
    du, dv = g.u * look.code_px, g.v * look.code_px
    gx = look.center[0] + du * math.cos(rot) - dv * math.sin(rot)
    gy = look.center[1] + du * math.sin(rot) + dv * math.cos(rot)
    a, b = g.a * look.code_px, g.b * look.code_px
    reach = 3 * max(a, b)
    x0, x1 = max(0, int(gx - reach)), min(width, int(gx + reach) + 1)
    y0, y1 = max(0, int(gy - reach)), min(height, int(gy + reach) + 1)
    out = np.zeros((height, width), np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    xs, ys = _grid(size)
    dx, dy = xs[y0:y1, x0:x1] - np.float32(gx), ys[y0:y1, x0:x1] - np.float32(gy)
    ca, sa = np.float32(math.cos(g.angle)), np.float32(math.sin(g.angle))
    r2 = ((dx * ca + dy * sa) / np.float32(a)) ** 2 + ((-dx * sa + dy * ca) / np.float32(b)) ** 2
    out[y0:y1, x0:x1] = np.float32(g.peak) * np.exp(-r2)
    return out


def _moire(m: _Moire, size: Size) -> FloatImage:
    """Multiplicative interference of the screen's pixel grid with the sensor's."""
    xs, ys = _grid(size)
    c, s = np.float32(math.cos(m.angle)), np.float32(math.sin(m.angle))
    along = xs * c + ys * s
    across = -xs * s + ys * c
    two_pi = np.float32(2 * math.pi)
    envelope = 0.5 + 0.5 * np.cos(two_pi * across / np.float32(m.beat))
    wave = np.cos(two_pi * along / np.float32(m.period)) * envelope
    grid = np.cos(two_pi * xs / np.float32(2.6)) * np.cos(two_pi * ys / np.float32(2.6))
    out: FloatImage = 1 + np.float32(m.amplitude) * wave + np.float32(m.grid) * grid
    return out


# ------------------------------------------------------------------------------ public renderer


def render_badge_frame(
    text: str, rng: np.random.Generator, condition: Condition, size: Size = DEFAULT_SIZE
) -> Frame:
    """One frame of the badge whose QR content is `text`, seen under `condition`."""
    look = _sample_look(rng, condition, size)
    background = _background(rng, size, clutter=int(rng.integers(0, 3)))
    return _render(text, look, background, rng)


def render_empty_frame(
    rng: np.random.Generator, size: Size = DEFAULT_SIZE, condition: Condition | None = None
) -> Frame:
    """A frame with no QR code: a cluttered scene, sometimes a card or phone without a code.

    The clutter includes checkerboards, text, stripes, random block patterns and lone
    finder-like squares, but never a real QR code.
    """
    look, background = _empty_look(rng, size, condition)
    return _render(None, look, background, rng)


def _empty_look(
    rng: np.random.Generator, size: Size, condition: Condition | None
) -> tuple[_Look, npt.NDArray[np.uint8]]:
    if condition is None:
        condition = CONDITIONS[int(rng.integers(len(CONDITIONS)))]
    roll = rng.random()
    kind: Kind = "none" if roll < 0.5 else "card" if roll < 0.85 else "phone"
    look = _sample_look(rng, condition, size, kind=kind)
    return look, _background(rng, size, clutter=int(rng.integers(1, 5)))


def badge_frames(
    texts: Sequence[str],
    seed: int,
    n_per_condition: int,
    conditions: Iterable[Condition] = CONDITIONS,
    size: Size = DEFAULT_SIZE,
) -> Iterator[tuple[Condition, str, Frame]]:
    """(condition, text, frame) for `n_per_condition` frames of each condition, for benchmarks.

    Deterministic for a seed; each condition has its own random stream, so the frames of one
    condition do not change when others are added or removed.
    """
    for condition in conditions:
        rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
        for i in range(n_per_condition):
            text = texts[i % len(texts)]
            yield condition, text, render_badge_frame(text, rng, condition, size)


# ------------------------------------------------------------------------------ the camera


@dataclass(frozen=True)
class Presentation:
    """One stretch of a script: `text` held up for `frames` frames (None: nobody there)."""

    text: str | None
    frames: int = 8
    condition: Condition | None = None  # None: the camera picks one at random

    def __post_init__(self) -> None:
        if self.frames < 0:
            raise ValueError(f"a presentation lasts 0 frames or more, not {self.frames}")


ScriptItem = Presentation | str | None
"""A Presentation, a badge text (held `hold_frames` frames) or None (`gap_frames` empty frames)."""


def interleaved(texts: Iterable[str], *, hold: int = 8, gap: int = 6) -> list[Presentation]:
    """A script: `gap` empty frames, then each text held `hold` frames and followed by `gap`."""
    script = [Presentation(None, gap)]
    for text in texts:
        script += [Presentation(text, hold), Presentation(None, gap)]
    return script


class SimulatedCamera(CameraBase):
    """A camera that films a script of badge presentations (see the module docstring).

    `script` is either a finite (or lazy) iterable of ScriptItem, after which ``read`` returns
    None, or, for an endless demo, a callable returning the next ScriptItem each time the
    previous one has been played.

    `fps` None delivers frames as fast as they render; otherwise ``read`` paces them. The
    condition of each presentation that does not fix one is drawn from `conditions`.

    Failures, for testing a station's recovery: with `fail_after` n, ``read`` raises CameraError
    once n frames have been delivered (in total since construction) and keeps raising until
    the camera is closed and opened again; it fails once. `fail_times` k makes k successive
    ``open`` calls raise CameraError: the first k opens when `fail_after` is None, else the k
    opens that follow the failure (the device takes a while to come back).
    """

    name = "sim"

    def __init__(
        self,
        script: Iterable[ScriptItem] | Callable[[], ScriptItem],
        *,
        fps: float | None = None,
        seed: int = 0,
        hold_frames: int = 8,
        gap_frames: int = 6,
        conditions: Sequence[Condition] = CONDITIONS,
        size: Size = DEFAULT_SIZE,
        fail_after: int | None = None,
        fail_times: int = 0,
    ) -> None:
        if not conditions:
            raise ValueError("conditions must not be empty")
        if isinstance(script, str):
            raise TypeError("script must be a sequence of items, not one string")
        self._next_item: Callable[[], ScriptItem | _End]
        if callable(script):
            self._next_item = script
        else:
            items = iter(script)
            self._next_item = lambda: next(items, _END)
        self.endless = callable(script)
        self.size = size
        self.hold_frames = hold_frames
        self.gap_frames = gap_frames
        self.conditions = tuple(conditions)
        self.fail_after = fail_after
        self.fail_times = fail_times
        self._rng = np.random.default_rng(seed)
        self._pacer = FramePacer(fps)
        self._is_open = False
        self._broken = False
        self._failed = False
        self._open_failures_left = fail_times if fail_after is None else 0
        self._ended = False
        self._current: Presentation | None = None
        self._left = 0
        self._look: _Look | None = None
        self._base: _Look | None = None  # the look a presentation started with
        self._background: npt.NDArray[np.uint8] | None = None
        self.frames_read = 0
        self.open_attempts = 0
        self.last_text: str | None = None
        """The badge text in the frame last returned (None: an empty frame)."""
        self.last_condition: Condition | None = None

    # -- Camera

    def open(self) -> None:
        if self._is_open:
            return
        self.open_attempts += 1
        if self._open_failures_left > 0:
            self._open_failures_left -= 1
            raise CameraError("simulated camera: device not found (scripted open failure)")
        self._broken = False
        self._is_open = True
        self._pacer.reset()

    def close(self) -> None:
        self._is_open = False

    def read(self) -> Frame | None:
        if not self._is_open:
            raise CameraError("simulated camera is not open")
        if self._broken:
            raise CameraError("simulated camera: device disappeared (scripted failure)")
        if self.fail_after is not None and not self._failed and self.frames_read >= self.fail_after:
            self._failed = self._broken = True
            self._open_failures_left = self.fail_times
            raise CameraError(
                f"simulated camera: device disappeared after {self.frames_read} frames"
            )
        if not self._advance():
            return None
        assert self._current is not None and self._look is not None and self._background is not None
        if self._look.kind != "none" and self._base is not None:
            self._look = _jitter(self._look, self._base, self._rng, self.size)
        look = self._look
        frame = _render(self._current.text, look, self._background, self._rng)
        self._left -= 1
        self.frames_read += 1
        self.last_text = self._current.text
        self.last_condition = look.condition if self._current.text else None
        self._pacer.wait()
        return frame

    # -- script

    def _advance(self) -> bool:
        """Make sure a presentation with frames left is current; False at the end of the script."""
        while self._left <= 0:
            if self._ended:
                return False
            item = self._next_item()
            if isinstance(item, _End):
                self._ended = True
                return False
            self._start(self._presentation(item))
        return True

    def _presentation(self, item: ScriptItem) -> Presentation:
        if isinstance(item, Presentation):
            return item
        if item is None:
            return Presentation(None, self.gap_frames)
        return Presentation(item, self.hold_frames)

    def _start(self, p: Presentation) -> None:
        rng = self._rng
        condition = p.condition or self.conditions[int(rng.integers(len(self.conditions)))]
        if p.text is None:
            self._look, self._background = _empty_look(rng, self.size, p.condition)
        else:
            self._look = _sample_look(rng, condition, self.size)
            self._background = _background(rng, self.size, clutter=int(rng.integers(0, 3)))
        self._base = self._look
        self._current = p
        self._left = p.frames


class _End:
    """Marks the end of a finite script."""


_END = _End()


def demo_camera(
    texts: Sequence[str],
    *,
    fps: float | None = 15.0,
    seed: int = 0,
    conditions: Sequence[Condition] = CONDITIONS,
    size: Size = DEFAULT_SIZE,
) -> SimulatedCamera:
    """An endless camera for the demo: random badges from `texts`, with pauses between them."""
    if not texts:
        raise ValueError("the demo needs at least one badge text")
    rng = np.random.default_rng(seed)
    turn = 0

    def next_item() -> ScriptItem:
        nonlocal turn
        turn += 1
        if turn % 2:
            return Presentation(None, int(rng.integers(5, 30)))
        return Presentation(texts[int(rng.integers(len(texts)))], int(rng.integers(4, 15)))

    return SimulatedCamera(next_item, fps=fps, seed=seed, conditions=conditions, size=size)
