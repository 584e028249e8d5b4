"""Field frames: the held-out evaluation of the station's decoder.

`camera_sim` renders the conditions the decoder was developed on. This module renders a broader
set, closer to what stations meet in the field, with its own seeds split in two:

* `TUNING_SEEDS` are for developing and tuning the decoder; look at these frames freely;
* `EVALUATION_SEEDS` are only for measuring (`presensi station bench`). Nobody tunes on them:
  a figure measured on tuned frames says nothing about frames nobody has seen.

Every frame has the *base* nuisances: 640x480 or 1280x720, the card 10-22 cm from the lens,
any rotation in its plane, a little tilt (about 6 degrees) and keystone (the near and far edges
of the code differ by up to 10% of its width), clutter behind it, exposure 0.7-1.1x with a black
offset, sensor noise and JPEG quality 60-90. Each `FieldCondition` then pushes one thing to
its extreme; `MIXED` draws every stress over its whole range at once. The badge is printed as
provisioning prints it (`PrintSettings`: error correction M, a 50 mm box with the quiet zone,
modules snapped to 600 dpi dots), so a higher error-correction level means smaller modules, as
on a real card.

Blur is drawn in modules of the code, which is what decides whether any decoder can read it:
defocus 0.25-0.5 module (1-5 px), motion 0.5-1.2 module (2-12 px), in modules of the standard
card (level M, 50 mm box) at that distance, so a card printed with smaller modules meets the
same blur in pixels.
"""

from __future__ import annotations

import enum
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from presensi.hardware.camera_sim import (
    _FOCAL,
    Condition,
    Size,
    _background,
    _Glare,
    _Look,
    _place,
    _qr_matrix,
    _render,
    _sample_look,
    _Thumb,
    render_empty_frame,
    sample_badge_text,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from presensi.hardware.camera import Frame as _Frame

TUNING_SEEDS = range(0, 500_000)
"""Seeds to develop and tune with: look at these frames as much as you like."""
EVALUATION_SEEDS = range(500_000, 1_000_000)
"""Seeds to measure with only (the bench). Never tune on them."""

SIZES: tuple[Size, ...] = ((640, 480), (1280, 720))
STATION_DISTANCE_MM = (100.0, 220.0)  # where people hold the card (hardware/README.md)
FAR_DISTANCE_MM = (220.0, 260.0)
_SALT = 14  # keeps these streams apart from camera_sim's for the same seed


class FieldCondition(enum.StrEnum):
    """The stress a field frame is chosen for (on top of the base nuisances)."""

    TYPICAL = "typical"  # base nuisances only
    TILT = "tilt"  # turned 25-50 degrees, and a keystone of 10-30% (see _keystone)
    DIM = "dim"  # exposure 0.35-0.55x with a black offset of 5-25
    BRIGHT = "bright"  # exposure 1.1-1.3x: whites clip, blacks lifted
    DEFOCUS = "defocus"  # Gaussian blur 0.25-0.5 module (1-5 px)
    MOTION = "motion"  # motion blur 0.5-1.2 module (2-12 px)
    NOISE = "noise"  # strong sensor noise, some stuck pixels
    JPEG = "jpeg"  # JPEG quality 30-45
    GLARE = "glare"  # a specular highlight on the laminate
    THUMB = "thumb"  # a thumb over an edge of the code, 4-15% of its width deep
    BENT = "bent"  # the card bowed round its vertical axis
    FAR = "far"  # the card 22-26 cm away
    PHONE = "phone"  # the badge on a phone screen
    PHONE_DARK = "phone_dark"  # ... in dark mode
    MIXED = "mixed"  # every stress drawn over its whole range, each with chance 0.3


FIELD_CONDITIONS: tuple[FieldCondition, ...] = tuple(FieldCondition)


@dataclass(frozen=True)
class PrintSettings:
    """How the badge's code is printed: provisioning's rule (`badge_pdf.module_size_mm`)."""

    error: str = "m"  # error-correction level: m, q or h
    box_mm: float = 50.0  # the square given to the code, quiet zone included

    def module_mm(self, modules: int) -> float:
        dot = 25.4 / 600
        return int(self.box_mm / (modules + 8) / dot) * dot

    def code_mm(self, text: str) -> float:
        modules = int(_qr_matrix(text, self.error).shape[0])
        return modules * self.module_mm(modules)


CARD = PrintSettings()


def _modules(text: str, error: str = "m") -> int:
    return int(_qr_matrix(text, error).shape[0])


@dataclass(frozen=True)
class FieldFrame:
    seed: int
    condition: FieldCondition
    text: str
    frame: _Frame
    size: Size
    distance_mm: float
    jpeg_quality: int | None


def split_seeds(split: str, count: int, offset: int = 0) -> range:
    """`count` seeds of the "tuning" or "evaluation" split."""
    seeds = {"tuning": TUNING_SEEDS, "evaluation": EVALUATION_SEEDS}.get(split)
    if seeds is None:
        raise ValueError(f"split is 'tuning' or 'evaluation', not {split!r}")
    if offset + count > len(seeds):
        raise ValueError(f"the {split} split has {len(seeds)} seeds")
    return seeds[offset : offset + count]


def _rng(seed: int, condition: FieldCondition, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, FIELD_CONDITIONS.index(condition), _SALT, salt])


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class FieldLook:
    """Every random choice of one field presentation: the renderer's look and the rest."""

    look: _Look
    background: npt.NDArray[np.uint8]
    jpeg_quality: int | None
    distance_mm: float


def field_look(
    rng: np.random.Generator,
    condition: FieldCondition,
    text: str,
    size: Size,
    card: PrintSettings = CARD,
) -> FieldLook:
    """Draw a look for `condition` (see the module docstring for the ranges)."""
    mixed = condition is FieldCondition.MIXED

    def stressed(which: FieldCondition) -> bool:
        return condition is which or (mixed and rng.random() < 0.3)

    dark = stressed(FieldCondition.PHONE_DARK)
    phone = dark or stressed(FieldCondition.PHONE)
    base = Condition.PHONE_DARK if dark else Condition.PHONE_SCREEN if phone else Condition.CLEAN
    look = _sample_look(rng, base, size)
    distance = _u(rng, *(FAR_DISTANCE_MM if stressed(FieldCondition.FAR) else STATION_DISTANCE_MM))
    code_mm = _u(rng, 30, 45) if phone else card.code_mm(text)
    code_px = _FOCAL * size[0] * code_mm / distance
    ppm = code_px / _qr_matrix(text, card.error).shape[0]
    ss = 1 if ppm >= 4 else 2 if ppm >= 2 else 3
    tilt = stressed(FieldCondition.TILT)
    pitch, yaw = (float(np.clip(rng.normal(0, 6), -14, 14)) for _ in "py")
    if tilt:  # turned 25-50 degrees about an axis in its plane
        angle, axis = _u(rng, 25, 50), _u(rng, 0, 2 * math.pi)
        pitch, yaw = angle * math.cos(axis), angle * math.sin(axis)
    look = replace(
        look,
        code_px=code_px,
        pitch=pitch,
        yaw=yaw,
        roll=_u(rng, -180, 180),
        ss=ss,
        mp=int(np.clip(math.ceil(ss * ppm * 1.2), 2, 12)),
        error=card.error,
        keystone=_keystone(rng, (0.1 if tilt and not mixed else 0.0, 0.3) if tilt else (0, 0.1)),
    )
    look = _light(rng, look, stressed, phone=phone)
    # blur is the lens's and the hand's: sized on the standard card's modules, so a card
    # printed with smaller modules meets the same blur in pixels
    standard_ppm = ppm if phone else _FOCAL * size[0] * CARD.module_mm(_modules(text)) / distance
    look = _optics(rng, look, stressed, ppm=standard_ppm)
    look = _obstacles(rng, look, stressed, phone=phone)
    quality = int(rng.integers(60, 91))
    if stressed(FieldCondition.JPEG):
        quality = int(rng.integers(30, 46)) if not mixed else int(rng.integers(30, 91))
    look = _place(rng, look, size)
    background = _background(rng, size, clutter=int(rng.integers(0, 4)))
    return FieldLook(look, background, quality, distance)


Stressed = Callable[[FieldCondition], bool]


def _keystone(
    rng: np.random.Generator, reach: tuple[float, float]
) -> tuple[tuple[float, float], ...]:
    """Corner moves of a keystone of strength k drawn from `reach`, in a random direction phi:
    along each axis the near and far edges of the code differ by k cos(phi) and k sin(phi) of
    its width (k = 0.3 straight on an axis: 1.15 against 0.85), plus 2% of jitter a corner."""
    k = _u(rng, *reach)
    phi = _u(rng, 0, 2 * math.pi)
    kx, ky = k * math.cos(phi), k * math.sin(phi)
    corners = ((-1, -1), (1, -1), (1, 1), (-1, 1))  # the code's corners, as _pose lists them
    return tuple(
        (sx * sy * ky / 4 + _u(rng, -0.02, 0.02), sx * sy * kx / 4 + _u(rng, -0.02, 0.02))
        for sx, sy in corners
    )


def _light(rng: np.random.Generator, look: _Look, stressed: Stressed, *, phone: bool) -> _Look:
    exposure, black = _u(rng, 0.7, 1.1), _u(rng, 0, 10)
    if stressed(FieldCondition.DIM):
        exposure, black = _u(rng, 0.35, 0.55), _u(rng, 5, 25)
    elif stressed(FieldCondition.BRIGHT):
        exposure, black = _u(rng, 1.1, 1.3), _u(rng, 5, 30)
    if phone:
        exposure *= _u(rng, 0.45, 0.7)  # exposed for the room: the screen shines
    glare = None
    if stressed(FieldCondition.GLARE) and not phone:
        glare = _Glare(
            u=_u(rng, -0.45, 0.45),
            v=_u(rng, -0.45, 0.45),
            a=_u(rng, 0.15, 0.3),
            b=_u(rng, 0.06, 0.15),
            angle=_u(rng, 0, math.pi),
            peak=_u(rng, 150, 320),
        )
    return replace(look, exposure=exposure, black=black, glare=glare)


def _optics(rng: np.random.Generator, look: _Look, stressed: Stressed, *, ppm: float) -> _Look:
    """Blur in modules of the code: what decides whether any decoder can read it."""
    blur = min(1.0, _u(rng, 0.1, 0.2) * ppm)
    if stressed(FieldCondition.DEFOCUS):
        blur = float(np.clip(_u(rng, 0.25, 0.5) * ppm, 1.0, 5.0))
    motion = None
    if stressed(FieldCondition.MOTION):
        motion = (float(np.clip(_u(rng, 0.5, 1.2) * ppm, 2.0, 12.0)), _u(rng, 0, math.pi))
    read, shot, salt = _u(rng, 1.0, 3.0), _u(rng, 0.02, 0.08), 0.0
    if stressed(FieldCondition.NOISE):
        read, shot, salt = _u(rng, 5, 10), _u(rng, 0.1, 0.3), _u(rng, 0.001, 0.003)
    return replace(look, blur=blur, motion=motion, read_noise=read, shot_noise=shot, salt=salt)


def _obstacles(rng: np.random.Generator, look: _Look, stressed: Stressed, *, phone: bool) -> _Look:
    thumb = None
    if stressed(FieldCondition.THUMB):
        thumb = _Thumb(
            side=int(rng.integers(4)),
            along=_u(rng, 0.15, 0.85),
            reach=_u(rng, 0.04, 0.15),
            width=_u(rng, 0.2, 0.35),
        )
    bend = 0.0
    if stressed(FieldCondition.BENT) and not phone:
        bend = math.copysign(_u(rng, 0.04, 0.12), rng.random() - 0.5)
    return replace(look, thumb=thumb, bend=bend)


def jpeg(frame: _Frame, quality: int) -> _Frame:
    """The frame after a JPEG round trip at `quality` (what an MJPEG camera delivers)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    out: _Frame = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")).copy()
    return out


def render_look(text: str, fl: FieldLook, rng: np.random.Generator) -> _Frame:
    frame = _render(text, fl.look, fl.background, rng)
    return frame if fl.jpeg_quality is None else jpeg(frame, fl.jpeg_quality)


def render_field_frame(
    seed: int, condition: FieldCondition, card: PrintSettings = CARD
) -> FieldFrame:
    """The frame for (`seed`, `condition`): the same for the same arguments, on any machine."""
    rng = _rng(seed, condition)
    text = sample_badge_text(rng)
    size = SIZES[int(rng.integers(len(SIZES)))]
    fl = field_look(rng, condition, text, size, card)
    frame = render_look(text, fl, rng)
    return FieldFrame(seed, condition, text, frame, size, fl.distance_mm, fl.jpeg_quality)


def field_frames(
    seeds: Iterable[int],
    conditions: Iterable[FieldCondition] = FIELD_CONDITIONS,
    card: PrintSettings = CARD,
) -> Iterator[FieldFrame]:
    """A frame per seed and condition, condition by condition."""
    seeds = list(seeds)
    for condition in conditions:
        for seed in seeds:
            yield render_field_frame(seed, condition, card)


def render_field_empty(seed: int) -> _Frame:
    """A frame without a code (clutter, cards and phones without one), as the field sees it."""
    rng = np.random.default_rng([seed, _SALT, 99])
    size = SIZES[int(rng.integers(len(SIZES)))]
    frame = render_empty_frame(rng, size)
    return jpeg(frame, int(rng.integers(30, 91)))
