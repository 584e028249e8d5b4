"""The Raspberry Pi camera (libcamera) through picamera2, reading its low-resolution YUV stream.

The ISP scales the sensor image down to a small "lores" YUV420 stream; its first plane (Y) is
exactly the grayscale frame a QR decoder wants, with no conversion. Camera Module 3 has
autofocus, which is switched to continuous so a card held at any distance comes into focus.

**Exposure and frame rate: chosen by measurement, not tried on a camera.** A card moving into
view is smeared by the hand's motion during the exposure; the presentation simulator
(`field_presentations`, `python -m presensi.device.bench_field --what camera`) compared frame
rates and exposure caps on its tuning split, with a capped exposure paid for in gain noise,
and the station's defaults are what read fastest there (docs/benchmarks.md, issue 14):

* the frame rate is held at `fps` (default `DEFAULT_FPS`) with libcamera's
  ``FrameDurationLimits`` (min = max = one frame, in microseconds), passed with the
  configuration as picamera2 passes its own 30 fps default for video;
* the exposure is capped at `max_exposure_ms` (default `DEFAULT_MAX_EXPOSURE_MS`) while the
  automatic exposure keeps working: libcamera has no control for a maximum exposure time (an
  ``ExposureTime`` fixes it and turns the automatic exposure off for it), so the cap is put in
  the sensor's tuning file, as picamera2 documents: every exposure profile of the ``rpi.agc``
  algorithm becomes "exposure up to the cap at gain 1, then gain up to `max_gain`", and the
  camera is opened with that tuning. In bright light the exposure stays shorter than the cap.

A camera without ``FrameDurationLimits``, or whose tuning file cannot be loaded, has no
``rpi.agc`` exposure profiles or is refused once capped, runs as before for that setting (the
library's defaults); what was not applied is listed in `not_applied` and logged.

picamera2 exists only on a Pi (it comes with Raspberry Pi OS: ``sudo apt install
python3-picamera2``); it is imported by ``open``. NOTE: this backend is tested here only against
a fake picamera2 module that records calls, **never on a real Pi camera**; the API used
(``global_camera_info``, ``load_tuning_file``, ``find_tuning_algo``, ``Picamera2(num,
tuning=...)``, ``create_video_configuration(main=..., lores=..., controls=...)``, ``configure``,
``start``, ``camera_controls``, ``set_controls``, ``capture_array("lores")``, ``stop``,
``close``) is that of picamera2 0.3. Before relying on the settings, check on a station that
``capture_metadata()`` reports ``ExposureTime`` at most the cap and ``FrameDuration`` as set.
"""

from __future__ import annotations

import copy
import importlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.camera import CameraBase
from presensi.hardware.errors import CameraError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
"""The frame rate a station holds its camera at (chosen on the simulator's tuning split)."""
DEFAULT_MAX_EXPOSURE_MS = 8.0
"""The longest exposure the automatic exposure may use; beyond it, gain (same)."""
DEFAULT_MAX_GAIN = 16.0
"""The gain the capped automatic exposure may go up to (Camera Module 3's analogue maximum)."""
_MIN_EXPOSURE_US = 100  # the shortest exposure of libcamera's own profiles
_AF_CONTINUOUS = 2  # libcamera's AfModeEnum.Continuous, should its enum not be importable


class Picamera2Camera(CameraBase):
    """Grayscale frames of `size` (width, height) from Pi camera `camera_num`.

    The main stream is `main_size` (default: the same as `size`, so the lores stream has the
    same aspect ratio and the ISP does no extra work); it must be at least `size`. `fps` None
    leaves the frame rate to picamera2, `max_exposure_ms` None the exposure profile to the
    sensor's tuning (see the module docstring).
    """

    name = "picamera2"

    def __init__(
        self,
        *,
        size: tuple[int, int] = (640, 480),
        camera_num: int = 0,
        autofocus: bool = True,
        main_size: tuple[int, int] | None = None,
        fps: float | None = DEFAULT_FPS,
        max_exposure_ms: float | None = DEFAULT_MAX_EXPOSURE_MS,
        max_gain: float = DEFAULT_MAX_GAIN,
    ) -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"the frame size must be even, not {size}")
        main_size = main_size or size
        if main_size[0] < width or main_size[1] < height:
            raise ValueError(f"main_size {main_size} must be at least size {size}")
        if fps is not None and not 0 < fps <= 240:
            raise ValueError(f"fps must be in (0, 240], not {fps}")
        if max_exposure_ms is not None and not 0.1 <= max_exposure_ms <= 1000:
            raise ValueError(f"max_exposure_ms must be in [0.1, 1000], not {max_exposure_ms}")
        if not 1 <= max_gain <= 64:
            raise ValueError(f"max_gain must be in [1, 64], not {max_gain}")
        self.size = size
        self.main_size = main_size
        self.camera_num = camera_num
        self.autofocus = autofocus
        self.fps = fps
        self.max_exposure_ms = max_exposure_ms
        self.max_gain = max_gain
        self.not_applied: list[str] = []  # settings this camera could not take (on open)
        self._cam: Any = None
        self._frame_size = size

    def open(self) -> None:
        if self._cam is not None:
            return
        try:
            import picamera2
        except ImportError as exc:
            raise CameraError(
                "the picamera2 camera needs the picamera2 library, which exists only on a "
                "Raspberry Pi (sudo apt install python3-picamera2; in a virtualenv use "
                "--system-site-packages)"
            ) from exc
        Picamera2 = picamera2.Picamera2  # noqa: N806 - the library's class
        try:
            cameras = list(Picamera2.global_camera_info())
        except Exception as exc:  # libcamera may raise anything
            raise CameraError(f"cannot list the Pi cameras: {exc}") from exc
        found = len(cameras)
        if found <= self.camera_num:
            raise CameraError(
                f"no Raspberry Pi camera {self.camera_num} found ({found} connected); check the "
                "ribbon cable and `rpicam-hello --list-cameras`"
            )
        self.not_applied = []
        cam = self._make(Picamera2, cameras[self.camera_num])
        try:
            controls = self._frame_rate(cam)
            config = cam.create_video_configuration(
                main={"size": self.main_size},
                lores={"size": self.size, "format": "YUV420"},
                **({"controls": controls} if controls else {}),
            )
            cam.configure(config)
            cam.start()
            if self.autofocus and "AfMode" in cam.camera_controls:
                cam.set_controls({"AfMode": _af_continuous()})
        except Exception as exc:
            _quietly_close(cam)
            raise CameraError(f"cannot start Pi camera {self.camera_num}: {exc}") from exc
        self._frame_size = _lores_size(config, self.size)
        self._cam = cam

    def _make(self, picamera2_class: Any, info: Any) -> Any:
        """The Picamera2 object, opened with the capped tuning if there is one and it is taken."""
        if self.max_exposure_ms is not None:
            tuning = self._capped_tuning(picamera2_class, info, self.max_exposure_ms)
            if tuning is not None:
                try:
                    return picamera2_class(self.camera_num, tuning=tuning)
                except Exception as exc:  # noqa: BLE001 - the edited tuning refused: go without
                    self._not_applied(
                        f"max_exposure_ms {self.max_exposure_ms:g}: the camera refused the "
                        f"capped tuning ({exc})"
                    )
        try:
            return picamera2_class(self.camera_num)
        except Exception as exc:
            raise CameraError(f"cannot open Pi camera {self.camera_num}: {exc}") from exc

    def _frame_rate(self, cam: Any) -> dict[str, Any]:
        """The configuration's controls holding the frame rate (none if not set or not there)."""
        if self.fps is None:
            return {}
        if "FrameDurationLimits" not in cam.camera_controls:
            self._not_applied(f"fps {self.fps:g}: the camera has no FrameDurationLimits")
            return {}
        frame_us = round(1_000_000 / self.fps)
        return {"FrameDurationLimits": (frame_us, frame_us)}

    def _not_applied(self, what: str) -> None:
        self.not_applied.append(what)
        log.warning("Pi camera %s: %s; left to the library's default", self.camera_num, what)

    def _capped_tuning(
        self, picamera2_class: Any, info: Any, max_exposure_ms: float
    ) -> dict[str, Any] | None:
        """The sensor's tuning with every automatic-exposure profile capped, or None."""
        what = f"max_exposure_ms {max_exposure_ms:g}"
        model = info.get("Model") if isinstance(info, dict) else None
        if not isinstance(model, str) or not model:
            self._not_applied(f"{what}: the camera reports no sensor model")
            return None
        try:
            tuning: dict[str, Any] = copy.deepcopy(
                picamera2_class.load_tuning_file(f"{model}.json")
            )
            agc = picamera2_class.find_tuning_algo(tuning, "rpi.agc")
        except Exception as exc:  # noqa: BLE001 - no such file, another layout: run uncapped
            self._not_applied(f"{what}: no rpi.agc tuning for sensor {model} ({exc})")
            return None
        capped = cap_exposure_profiles(agc, max_exposure_ms, self.max_gain)
        if not capped:
            self._not_applied(f"{what}: the {model} tuning has no exposure profiles")
            return None
        return tuning

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _quietly_close(cam)

    def read(self) -> Frame:
        if self._cam is None:
            raise CameraError("Pi camera is not open")
        try:
            yuv = self._cam.capture_array("lores")
        except Exception as exc:
            raise CameraError(
                f"Pi camera {self.camera_num} stopped delivering frames: {exc}"
            ) from exc
        width, height = self._frame_size
        # YUV420 comes as (height * 3 / 2, stride): the Y plane on top, maybe padded on the right
        y_plane: Frame = np.ascontiguousarray(yuv[:height, :width], dtype=np.uint8)
        return y_plane


def cap_exposure_profiles(agc: Any, max_exposure_ms: float, max_gain: float) -> int:
    """Cap every exposure profile of an ``rpi.agc`` tuning (in place): the exposure rises to
    `max_exposure_ms` at gain 1, then the gain to `max_gain`. Returns how many were capped.

    The profiles are under ``exposure_modes``, in the algorithm itself (older tuning files) or
    in each of its ``channels`` (newer ones)."""
    if not isinstance(agc, dict):
        return 0
    channels = agc.get("channels")
    holders = [c for c in channels if isinstance(c, dict)] if isinstance(channels, list) else []
    holders.append(agc)
    cap_us = max(_MIN_EXPOSURE_US + 1, round(max_exposure_ms * 1000))
    capped = 0
    for holder in holders:
        modes = holder.get("exposure_modes")
        if not isinstance(modes, dict):
            continue
        for name in modes:
            modes[name] = {"shutter": [_MIN_EXPOSURE_US, cap_us], "gain": [1.0, float(max_gain)]}
            capped += 1
    return capped


def _af_continuous() -> Any:
    try:
        # libcamera comes with Raspberry Pi OS (python3-libcamera), never from PyPI: not declared
        return importlib.import_module("libcamera").controls.AfModeEnum.Continuous
    except (ImportError, AttributeError):
        return _AF_CONTINUOUS


def _lores_size(config: Any, default: tuple[int, int]) -> tuple[int, int]:
    """The lores size picamera2 settled on (it may align what was asked for)."""
    try:
        width, height = config["lores"]["size"]
        return int(width), int(height)
    except (KeyError, TypeError, ValueError):
        return default


def _quietly_close(cam: Any) -> None:
    for step in (cam.stop, cam.close):
        try:
            step()
        except Exception:  # noqa: BLE001, S112 - closing a failed camera must not raise
            continue
