"""The camera interface: something that yields grayscale frames.

A frame is a 2-D ``numpy.uint8`` array (height, width): luminance only, which is all a QR decoder
needs (picamera2's low-resolution YUV stream gives it without conversion).
"""

from __future__ import annotations

import enum
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Frame = npt.NDArray[np.uint8]


class Idle(enum.Enum):
    """What a source that waits for frames from outside (a watched folder) returns from
    ``read`` when none came within its short wait: not an end, not a fault. The station's loop
    beats its watchdog and reads again."""

    IDLE = "idle"


IDLE = Idle.IDLE


class Camera(Protocol):
    """Open, read frames, close. ``read`` returns None when a finite source (a file) has ended,
    and `IDLE` when a watching source has nothing new yet (it returns within about a second).

    ``read`` raises CameraError when the device fails or disappears; the station then shows the
    fault signal, closes the camera and opens it again later.
    """

    name: str

    def open(self) -> None: ...

    def read(self) -> Frame | Idle | None: ...

    def close(self) -> None: ...


class CameraBase:
    """Context-manager plumbing shared by the backends."""

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
