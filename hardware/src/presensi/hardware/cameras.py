"""Choose a camera backend by name, and the frame pacing the backends share.

Each backend lives in a module of its own and is imported only when chosen, so a station without
OpenCV or picamera2 can still run the others.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any

from presensi.hardware.errors import BackendNotFound

if TYPE_CHECKING:
    from presensi.hardware.camera import Camera

# backend name -> (module, class)
BACKENDS: dict[str, tuple[str, str]] = {
    "sim": ("presensi.hardware.camera_sim", "SimulatedCamera"),
    "folder": ("presensi.hardware.camera_folder", "FolderCamera"),
    "opencv": ("presensi.hardware.camera_opencv", "OpenCVCamera"),
    "picamera2": ("presensi.hardware.camera_picamera2", "Picamera2Camera"),
}


def make_camera(backend: str, **options: Any) -> Camera:
    """The camera of backend `backend`, built with `options` but not opened yet."""
    try:
        module_name, class_name = BACKENDS[backend]
    except KeyError:
        valid = ", ".join(sorted(BACKENDS))
        raise BackendNotFound(f"unknown camera backend {backend!r}; valid: {valid}") from None
    module = importlib.import_module(module_name)
    camera: Camera = getattr(module, class_name)(**options)
    return camera


def open_camera(backend: str, **options: Any) -> Camera:
    """Make the camera of backend `backend` with `options` and open it (CameraError if it cannot).

    Opening again is harmless (every backend's ``open`` does nothing when already open), so the
    result can still be used in a ``with`` block; after a failure the caller closes it and calls
    ``open()`` again.
    """
    camera = make_camera(backend, **options)
    camera.open()
    return camera


class FramePacer:
    """Sleep in ``wait()`` so that successive frames are at least 1/fps apart (fps None: never).

    A consumer that falls more than a frame behind does not get a burst of catch-up frames: the
    schedule restarts from now.
    """

    def __init__(self, fps: float | None) -> None:
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.period = None if fps is None else 1.0 / fps
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def wait(self) -> None:
        if self.period is None:
            return
        now = time.monotonic()
        if self._next is None or now - self._next > self.period:
            self._next = now
        elif now < self._next:
            time.sleep(self._next - now)
        self._next += self.period
