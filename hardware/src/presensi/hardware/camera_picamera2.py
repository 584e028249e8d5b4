"""The Raspberry Pi camera (libcamera) through picamera2, reading its low-resolution YUV stream.

The ISP scales the sensor image down to a small "lores" YUV420 stream; its first plane (Y) is
exactly the grayscale frame a QR decoder wants, with no conversion. Camera Module 3 has
autofocus, which is switched to continuous so a card held at any distance comes into focus.

picamera2 exists only on a Pi (it comes with Raspberry Pi OS: ``sudo apt install
python3-picamera2``); it is imported by ``open``. NOTE: this backend is tested here only against
a fake picamera2 module that records calls; the API used (``global_camera_info``,
``create_video_configuration(main=..., lores=...)``, ``configure``, ``start``,
``camera_controls``, ``set_controls``, ``capture_array("lores")``, ``stop``, ``close``) is that
of picamera2 0.3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.camera import CameraBase
from presensi.hardware.errors import CameraError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

_AF_CONTINUOUS = 2  # libcamera's AfModeEnum.Continuous, should its enum not be importable


class Picamera2Camera(CameraBase):
    """Grayscale frames of `size` (width, height) from Pi camera `camera_num`.

    The main stream is `main_size` (default: the same as `size`, so the lores stream has the
    same aspect ratio and the ISP does no extra work); it must be at least `size`.
    """

    name = "picamera2"

    def __init__(
        self,
        *,
        size: tuple[int, int] = (640, 480),
        camera_num: int = 0,
        autofocus: bool = True,
        main_size: tuple[int, int] | None = None,
    ) -> None:
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"the frame size must be even, not {size}")
        main_size = main_size or size
        if main_size[0] < width or main_size[1] < height:
            raise ValueError(f"main_size {main_size} must be at least size {size}")
        self.size = size
        self.main_size = main_size
        self.camera_num = camera_num
        self.autofocus = autofocus
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
            found = len(Picamera2.global_camera_info())
        except Exception as exc:  # libcamera may raise anything
            raise CameraError(f"cannot list the Pi cameras: {exc}") from exc
        if found <= self.camera_num:
            raise CameraError(
                f"no Raspberry Pi camera {self.camera_num} found ({found} connected); check the "
                "ribbon cable and `rpicam-hello --list-cameras`"
            )
        try:
            cam = Picamera2(self.camera_num)
        except Exception as exc:
            raise CameraError(f"cannot open Pi camera {self.camera_num}: {exc}") from exc
        try:
            config = cam.create_video_configuration(
                main={"size": self.main_size},
                lores={"size": self.size, "format": "YUV420"},
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
