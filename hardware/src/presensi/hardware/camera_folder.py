"""A camera that replays the image files of a folder: for tests, demos and field recordings."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from presensi.hardware.camera import IDLE, CameraBase, Idle
from presensi.hardware.cameras import FramePacer
from presensi.hardware.errors import CameraError

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})


class FolderCamera(CameraBase):
    """Frames from the images in `path` (png, jpg, jpeg, webp, bmp), in order of file name.

    Images are converted to grayscale (and turned upright by their EXIF orientation). A file
    that cannot be decoded is skipped with a warning. `fps` paces ``read``; None replays as fast
    as possible. Three ways to read the folder:

    - replay (default): every image once, then ``read`` returns None (the stream has ended);
      an empty folder is an error.
    - `loop`: every image, over and over; an empty folder is an error.
    - `watch`: every image once, then each image that appears later (a new name, or a file
      written again: its size or modification time changed), in name order; when there is
      nothing new for `idle_s` seconds ``read`` returns IDLE. An empty folder is fine. Whoever
      feeds the folder should write a file under another name (or suffix) and rename it into
      place, so that a half-written image is never read; one that is read half-written and
      fails is read again once it changes. The folder is polled every `poll_s` seconds.

    A missing folder is an error in every mode.
    """

    name = "folder"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: bool = False,
        watch: bool = False,
        fps: float | None = None,
        poll_s: float = 0.2,
        idle_s: float = 0.5,
    ) -> None:
        if loop and watch:
            raise CameraError(
                "a folder camera either loops over its images or watches for new ones"
            )
        self.path = Path(path)
        self.loop = loop
        self.watch = watch
        self.poll_s = poll_s
        self.idle_s = idle_s
        self._pacer = FramePacer(fps)
        self._files: list[Path] | None = None
        self._index = 0
        # watch: the (size, mtime) each image had when it was read, by name; kept across
        # close/open, so a reopened camera does not show the same images again
        self._seen: dict[str, tuple[int, int]] = {}

    def open(self) -> None:
        if self._files is not None:
            return
        if not self.path.is_dir():
            raise CameraError(f"camera folder {self.path} does not exist or is not a folder")
        if self.watch:
            self._files = []
        else:
            files = sorted(
                (p for p in self.path.iterdir() if _is_image(p) and p.is_file()),
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

    def read(self) -> Frame | Idle | None:
        if self._files is None:
            raise CameraError(f"folder camera {self.path} is not open")
        if self.watch:
            return self._read_new()
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

    def _read_new(self) -> Frame | Idle:
        """The next image not read yet (or changed since), waiting up to `idle_s` for one."""
        deadline = time.monotonic() + self.idle_s
        while True:
            for name, signature in self._new_images():
                self._seen[name] = signature
                frame = _load_gray(self.path / name)
                if frame is not None:
                    self._pacer.wait()
                    return frame
            if time.monotonic() >= deadline:
                return IDLE
            time.sleep(self.poll_s)

    def _new_images(self) -> list[tuple[str, tuple[int, int]]]:
        """Images whose name is new or whose (size, mtime) changed, in name order."""
        try:
            entries = list(os.scandir(self.path))
        except OSError as exc:  # the folder went away (an unmounted share): a camera fault
            raise CameraError(f"camera folder {self.path} cannot be read: {exc}") from exc
        found: dict[str, tuple[int, int]] = {}
        for entry in entries:
            if not _is_image(Path(entry.name)):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:  # removed between listing and stat
                continue
            found[entry.name] = (stat.st_size, stat.st_mtime_ns)
        for gone in self._seen.keys() - found.keys():  # forget removed files
            del self._seen[gone]
        return sorted(
            (name, signature)
            for name, signature in found.items()
            if self._seen.get(name) != signature
        )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


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
