"""Opening a camera by backend name (see presensi.hardware.backends.CAMERAS), and the frame pacing
the backends share."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from presensi.hardware.backends import CAMERAS

if TYPE_CHECKING:
    from presensi.hardware.camera import Camera


def open_camera(backend: str, **options: Any) -> Camera:
    """Make the camera of backend `backend` with `options` and open it (CameraError if it cannot).

    Opening again is harmless (every backend's ``open`` does nothing when already open), so the
    result can still be used in a ``with`` block; after a failure the caller closes it and calls
    ``open()`` again.
    """
    camera = CAMERAS.make(backend, **options)
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
