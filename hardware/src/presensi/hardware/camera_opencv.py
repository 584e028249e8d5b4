"""A camera read through OpenCV: a USB webcam (V4L2 device), a video file or a stream URL."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from presensi.hardware.camera import CameraBase
from presensi.hardware.cameras import FramePacer
from presensi.hardware.errors import CameraError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame


class OpenCVCamera(CameraBase):
    """Grayscale frames from ``cv2.VideoCapture(source)``.

    `source` is a device index (0 for /dev/video0), a device path, a video file or a stream URL
    (rtsp://, http://). A device or stream is *live*: a failed read means it went away and
    raises CameraError. A video file is finite: ``read`` returns None at its end.

    For a live source, `width`, `height` and `fps` are asked of the driver (which may give
    something else); for a file, `fps` paces ``read`` and None replays as fast as possible.
    OpenCV is imported only by ``open``.
    """

    name = "opencv"

    def __init__(
        self,
        source: int | str,
        *,
        width: int = 640,
        height: int = 480,
        fps: float | None = None,
    ) -> None:
        if isinstance(source, str) and source.strip().isdigit():
            source = int(source)  # "0" from a config file means device 0
        self.source = source
        self.width = width
        self.height = height
        self.fps = fps
        self.live = isinstance(source, int) or source.startswith("/dev/") or "://" in source
        self._pacer = FramePacer(None if self.live else fps)
        self._cv2: Any = None
        self._cap: Any = None

    def open(self) -> None:
        if self._cap is not None:
            return
        try:
            import cv2
        except ImportError as exc:
            raise CameraError(
                "the opencv camera needs OpenCV: pip install 'presensi[opencv]'"
            ) from exc
        device = self.live and "://" not in str(self.source)
        index = _device_index(self.source)
        if index is not None and sys.platform.startswith("linux"):
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        else:
            cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            hint = "; list the cameras with `v4l2-ctl --list-devices`" if device else ""
            raise CameraError(f"cannot open camera source {self.source!r} with OpenCV{hint}")
        if self.live:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps is not None:
                cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale queued one
        self._cv2, self._cap = cv2, cap
        self._pacer.reset()

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def read(self) -> Frame | None:
        if self._cap is None:
            raise CameraError(f"camera {self.source!r} is not open")
        try:
            ok, image = self._cap.read()
        except self._cv2.error as exc:
            raise CameraError(f"camera {self.source!r} failed: {exc}") from exc
        if not ok or image is None:
            if self.live:
                raise CameraError(f"camera {self.source!r} stopped delivering frames (unplugged?)")
            return None
        gray: Frame
        if image.ndim == 2:
            gray = image
        elif image.shape[2] == 4:
            gray = self._cv2.cvtColor(image, self._cv2.COLOR_BGRA2GRAY)
        else:
            gray = self._cv2.cvtColor(image, self._cv2.COLOR_BGR2GRAY)
        self._pacer.wait()
        return np.ascontiguousarray(gray, dtype=np.uint8)


def _device_index(source: int | str) -> int | None:
    """The N of /dev/videoN for a device index or path (following /dev/v4l/by-id links)."""
    if isinstance(source, int):
        return source
    if source.startswith("/dev/"):
        found = re.fullmatch(r"/dev/video(\d+)", os.path.realpath(source))
        if found:
            return int(found.group(1))
    return None
