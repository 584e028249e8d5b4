"""A badge presented to the station camera: the frames of one presentation, over time.

A person brings the card (or phone) in, holds it for about a second and takes it away. The
camera runs at 10-30 fps. A presentation is drawn from a seed of the same split as
`field_frames` (`TUNING_SEEDS` while developing, `EVALUATION_SEEDS` to measure) and under one
of its conditions, so its frames share that condition's look (a dim pool stays dim); on top,
the hand moves:

* **approach** (0.15-0.35 s): the code enters the frame whole at t = 0 and comes to rest,
  decelerating, from up to 35% of the frame width away and 10-25% further from the lens;
* **hold** (0.8-1.2 s): a physiological tremor (two sways of 0.3-1 mm at 3-9 Hz a direction;
  1.5-4 mm in `MOTION`, a shaking hand, whose blur then comes and goes with the speed),
  a slow drift of 2-8 mm/s, and a wobble of 0.5-2 degrees in rotation and tilt at 1-2 Hz, which
  slides a glare spot across the laminate (about 0.1 code width a degree: a mirror turns the
  reflected ray twice as far). A thumb stays where it holds the card.

Each frame is blurred along the code's motion during the exposure (4-16 ms; 16-33 ms in
`DIM`: the camera lengthens the exposure in a dim pool), on top of the condition's own blur.
`frame_at(i)` renders frame i (at ``i / fps + phase`` seconds), so a time-to-read model renders
only the frames it reads.

**The station's configured camera** (`StationCamera`, optional; the issue's model above is the
default): the same scene, hand and look, captured by a camera held at a fixed frame rate and
with its exposure capped. Where the issue's camera exposed for t0 > the cap, the capped camera
collects cap / t0 of the light and raises its gain r = t0 / cap times to give the same picture,
so every noise term in the picture grows: the shot-noise variance per unit of signal by r (the
same grey level is made of r times fewer photo-electrons) and the read noise by r (amplified
with the signal; the pessimistic bound, as part of a real noise floor comes after the amplifier:
`read_noise_amplified=False` is the optimistic one). The issue's camera is taken to have run
libcamera's normal exposure profile (gain 1 up to 10 ms, then gain 2), and the capped camera's
gain stops at `max_gain` in all; beyond it the picture is darker (exposure, black offset, glare,
screen light all scaled by the shortfall) rather than brighter. A short exposure is therefore
not free: it trades motion blur for noise, and in `DIM` for noise and darkness. The JPEG round
trip of the issue's model is kept (a Pi camera's YUV stream has none: that favours neither
setting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from presensi.hardware.camera_sim import _FOCAL, _fits, _Look, sample_badge_text
from presensi.hardware.field_frames import (
    CARD,
    FIELD_CONDITIONS,
    SIZES,
    FieldCondition,
    FieldLook,
    PrintSettings,
    field_look,
    render_look,
)

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

_SALT = 1400  # keeps presentations apart from single field frames of the same seed


@dataclass(frozen=True)
class HandMotion:
    approach_s: float
    hold_s: float
    start: tuple[float, float]  # code centre offset at t=0 from where it comes to rest (px)
    start_scale: float  # code size at t=0 relative to at rest (further away)
    tremor: tuple[tuple[float, float, float], ...]  # (amplitude px, Hz, phase) per sway, x then y
    drift: tuple[float, float]  # px/s
    wobble: tuple[float, float, float]  # degrees of roll, pitch, yaw swayed at 1-2 Hz
    exposure_s: float


@dataclass(frozen=True)
class StationCamera:
    """Camera settings a station configures: a fixed frame rate, an exposure cap, a gain limit.

    `fps` None keeps the issue's 10-30 fps draw; `max_exposure_ms` None keeps its exposures."""

    fps: float | None = 30.0
    max_exposure_ms: float | None = 8.0
    max_gain: float = 16.0  # analogue gain at most (Camera Module 3's sensor reaches 16x)
    # False: the read noise stays as it was at the gain (an optimistic bound: a real
    # sensor's noise floor is partly after the amplifier); True amplifies all of it (pessimistic)
    read_noise_amplified: bool = True

    def describe(self) -> dict[str, float | bool | None]:
        return {
            "fps": self.fps,
            "max_exposure_ms": self.max_exposure_ms,
            "max_gain": self.max_gain,
            "read_noise_amplified": self.read_noise_amplified,
        }


AUTO_GAIN_SHUTTER_S = 0.010  # libcamera's normal profile: gain 1 up to 10 ms, then gain 2


@dataclass(frozen=True)
class FieldPresentation:
    seed: int
    condition: FieldCondition
    text: str
    fps: float
    phase_s: float  # when the first frame is captured after t = 0
    size: tuple[int, int]
    look: FieldLook
    motion: HandMotion

    @property
    def duration_s(self) -> float:
        return self.motion.approach_s + self.motion.hold_s

    def frame_time(self, index: int) -> float:
        return self.phase_s + index / self.fps

    def frame_count(self) -> int:
        return max(1, math.floor((self.duration_s - self.phase_s) * self.fps) + 1)

    def frame_at(self, index: int) -> Frame:
        """Frame `index` of the presentation (deterministic)."""
        t = self.frame_time(index)
        rng = np.random.default_rng(
            [self.seed, _SALT, FIELD_CONDITIONS.index(self.condition), index]
        )
        fl = replace(self.look, look=_posed(self, t))
        return render_look(self.text, fl, rng)


def _offset(m: HandMotion, t: float) -> tuple[float, float, float]:
    """(dx, dy, scale) of the code at time t, relative to its resting pose."""
    if t < m.approach_s:
        left = 1 - t / m.approach_s
        ease = left * left  # decelerating to rest
        dx, dy = m.start[0] * ease, m.start[1] * ease
        scale = 1 + (m.start_scale - 1) * ease
    else:
        dx = dy = 0.0
        scale = 1.0
    hold = max(0.0, t - m.approach_s)
    dx += m.drift[0] * hold
    dy += m.drift[1] * hold
    for i, (amp, hz, phase) in enumerate(m.tremor):
        sway = amp * math.sin(2 * math.pi * hz * t + phase)
        if i % 2 == 0:
            dx += sway
        else:
            dy += sway
    return dx, dy, scale


def _posed(p: FieldPresentation, t: float) -> _Look:
    m, rest = p.motion, p.look.look
    dx, dy, scale = _offset(m, t)
    dt = 1e-3
    dx2, dy2, _ = _offset(m, t + dt)
    vx, vy = (dx2 - dx) / dt, (dy2 - dy) / dt
    smear = math.hypot(vx, vy) * m.exposure_s
    roll_w, pitch_w, yaw_w = m.wobble
    posed = replace(
        rest,
        roll=rest.roll + roll_w * math.sin(2 * math.pi * 1.3 * t),
        pitch=rest.pitch + pitch_w * math.sin(2 * math.pi * 1.7 * t + 1),
        yaw=rest.yaw + yaw_w * math.sin(2 * math.pi * 1.1 * t + 2),
    )
    if rest.glare is not None:  # the highlight slides ~0.1 code width a degree of turn
        turned_x, turned_y = posed.yaw - rest.yaw, posed.pitch - rest.pitch
        glare = replace(
            rest.glare, u=rest.glare.u + 0.1 * turned_x, v=rest.glare.v + 0.1 * turned_y
        )
        posed = replace(posed, glare=glare)
    if smear >= 1.0:
        own = rest.motion[0] if rest.motion is not None else 0.0
        posed = replace(posed, motion=(math.hypot(smear, own), math.atan2(vy, vx)))
    for k in (1.0, 0.7, 0.4, 0.0):  # the code stays whole in the frame: a hand keeps it there
        moved = replace(
            posed,
            center=(rest.center[0] + k * dx, rest.center[1] + k * dy),
            code_px=rest.code_px * (1 + k * (scale - 1)),
        )
        if _fits(moved, p.size):
            return moved
    return rest


def field_presentation(
    seed: int,
    condition: FieldCondition,
    card: PrintSettings = CARD,
    camera: StationCamera | None = None,
) -> FieldPresentation:
    """The presentation for (`seed`, `condition`): the same for the same arguments.

    With `camera`, the same scene and hand seen by the station's configured camera (see the
    module docstring): the same random draws, so the two are paired presentation by
    presentation."""
    rng = np.random.default_rng([seed, _SALT, FIELD_CONDITIONS.index(condition)])
    text = sample_badge_text(rng)
    size = SIZES[int(rng.integers(len(SIZES)))]
    fl = field_look(rng, condition, text, size, card)
    fps = float(rng.uniform(10, 30))
    px_per_mm = _FOCAL * size[0] / fl.distance_mm
    angle = float(rng.uniform(0, 2 * math.pi))
    reach = float(rng.uniform(0.1, 0.35)) * size[0]
    shaky = fl.look.motion is not None  # MOTION: a shaking hand, not one blur for a second
    if shaky:
        fl = replace(fl, look=replace(fl.look, motion=None))
    sway = (1.5, 4.0) if shaky else (0.3, 1.0)
    tremor = tuple(
        (
            float(rng.uniform(*sway)) * px_per_mm,
            float(rng.uniform(3, 9)),
            float(rng.uniform(0, 6.3)),
        )
        for _ in range(4)
    )
    drift_speed = float(rng.uniform(2, 8)) * px_per_mm
    to_middle = math.atan2(size[1] / 2 - fl.look.center[1], size[0] / 2 - fl.look.center[0])
    drift_dir = to_middle + float(rng.uniform(-1.2, 1.2))  # away from the frame's edge
    dim = condition is FieldCondition.DIM
    motion = HandMotion(
        approach_s=float(rng.uniform(0.15, 0.35)),
        hold_s=float(rng.uniform(0.8, 1.2)),
        start=(reach * math.cos(angle), reach * math.sin(angle)),
        start_scale=1 / float(rng.uniform(1.1, 1.25)),
        tremor=tremor,
        drift=(drift_speed * math.cos(drift_dir), drift_speed * math.sin(drift_dir)),
        wobble=(float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 2))),
        exposure_s=float(rng.uniform(0.016, 0.033) if dim else rng.uniform(0.004, 0.016)),
    )
    phase = float(rng.uniform(0, 1 / fps))
    if camera is not None:
        fps, phase, fl, motion = _configured(camera, fps, phase, fl, motion)
    p = FieldPresentation(seed, condition, text, fps, phase, size, fl, motion)
    for _ in range(8):  # the code enters the frame whole at t = 0: come from nearer if need be
        dx, dy, scale = _offset(p.motion, 0.0)
        start = replace(fl.look, center=(fl.look.center[0] + dx, fl.look.center[1] + dy))
        if _fits(replace(start, code_px=fl.look.code_px * scale), size):
            break
        p = replace(
            p, motion=replace(p.motion, start=(p.motion.start[0] * 0.7, p.motion.start[1] * 0.7))
        )
    return p


def _configured(
    camera: StationCamera, fps: float, phase: float, fl: FieldLook, motion: HandMotion
) -> tuple[float, float, FieldLook, HandMotion]:
    """The issue's draw seen by `camera`: frame rate, exposure, gain noise (module docstring)."""
    new_fps = camera.fps or fps
    phase = phase * fps / new_fps  # the same fraction of a frame interval
    t0 = motion.exposure_s
    t = min(t0, 1 / new_fps)
    if camera.max_exposure_ms is not None:
        t = min(t, camera.max_exposure_ms / 1000)
    g0 = 1.0 if t0 <= AUTO_GAIN_SHUTTER_S else 2.0
    needed = g0 * t0 / t  # the gain that gives the picture in the shorter exposure
    gain = min(needed, max(camera.max_gain, g0))
    r, light = gain / g0, gain / needed  # noise amplification; light kept (< 1: darker)
    look = fl.look
    glare = look.glare if look.glare is None else replace(look.glare, peak=look.glare.peak * light)
    look = replace(
        look,
        read_noise=look.read_noise * (r if camera.read_noise_amplified else 1.0),
        shot_noise=look.shot_noise * r,
        exposure=look.exposure * light,
        black=look.black * light,
        glare=glare,
        screen_gain=look.screen_gain * light,
        screen_floor=look.screen_floor * light,
    )
    return new_fps, phase, replace(fl, look=look), replace(motion, exposure_s=t)
