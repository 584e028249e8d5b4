"""A camera that replays the image files of a folder: for tests, demos and field recordings."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from presensi.hardware.camera import CameraBase
from presensi.hardware.cameras import FramePacer
from presensi.hardware.errors import CameraError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


class FolderCamera(CameraBase):
    """Frames from the images in `path` (png, jpg, jpeg, webp, bmp), in order of file name.

    Images are converted to grayscale (and turned upright by their EXIF orientation). ``read``
    returns None after the last image, or starts over if `loop`. A file that cannot be decoded
    is skipped with a warning. `fps` paces ``read``; None replays as fast as possible.
    """

    name = "folder"

    def __init__(
        self, path: str | os.PathLike[str], *, loop: bool = False, fps: float | None = None
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self._pacer = FramePacer(fps)
        self._files: list[Path] | None = None
        self._index = 0

    def open(self) -> None:
        if self._files is not None:
            return
        if not self.path.is_dir():
            raise CameraError(f"camera folder {self.path} does not exist or is not a folder")
        files = sorted(
            (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: p.name,
        )
        if not files:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise CameraError(f"camera folder {self.path} holds no images ({kinds})")
        self._files = files
        self._index = 0
        self._pacer.reset()

    def close(self) -> None:
        self._files = None

    def read(self) -> Frame | None:
        if self._files is None:
            raise CameraError(f"folder camera {self.path} is not open")
        failures = 0
        while True:
            if self._index >= len(self._files):
                if not self.loop:
                    return None
                self._index = 0
            path = self._files[self._index]
            self._index += 1
            frame = _load_gray(path)
            if frame is not None:
                self._pacer.wait()
                return frame
            failures += 1
            if self.loop and failures >= len(self._files):  # none of them can be read
                raise CameraError(f"no image in camera folder {self.path} can be read")


def _load_gray(path: Path) -> Frame | None:
    """The image at `path` as a grayscale frame; None (and a warning) if it cannot be read."""
    try:
        with Image.open(path) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            if upright.mode in {"I;16", "I;16B", "I;16L", "I"}:  # 16-bit grayscale
                wide = np.asarray(upright, dtype=np.float64)
                return np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8)
            if upright.mode in {"RGBA", "LA", "PA"} or "transparency" in upright.info:
                # transparent pixels: show them on white, as a viewer would
                rgba = upright.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                upright = Image.alpha_composite(white, rgba)
            gray: Frame = np.array(upright.convert("L"), dtype=np.uint8)
            return gray
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.warning("skipping unreadable image %s: %s", path, exc)
        return None
