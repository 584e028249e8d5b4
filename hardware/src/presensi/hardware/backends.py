"""Choosing a hardware backend by its explicit name: one registry per kind of part.

Each backend lives in a module of its own and is imported only when chosen, so a station
without OpenCV, zbar or picamera2 still runs the others. A name is always given explicitly
(the station's config, a command-line option); an unknown one is a BackendNotFound listing
the valid names, never a silent fallback to another backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from presensi.hardware.errors import BackendNotFound

if TYPE_CHECKING:
    from presensi.hardware.camera import Camera
    from presensi.hardware.decoder import Decoder
    from presensi.hardware.indicator import Indicator
    from presensi.hardware.scanner import CodeScanner

Part = TypeVar("Part")


@dataclass(frozen=True)
class Registry(Generic[Part]):
    """The backends of one kind of part: name -> "module:Class" (the class takes keyword options
    and carries the same `name`)."""

    kind: str
    backends: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.backends))

    def target(self, name: str) -> tuple[str, str]:
        """The module and class of backend `name`."""
        try:
            module, _, attr = self.backends[name].partition(":")
        except KeyError:
            valid = ", ".join(self.names)
            raise BackendNotFound(f"unknown {self.kind} backend {name!r}; valid: {valid}") from None
        return module, attr

    def make(self, name: str, **options: Any) -> Part:
        """The part of backend `name`, built with `options` (not opened yet)."""
        module, attr = self.target(name)
        part: Part = getattr(importlib.import_module(module), attr)(**options)
        return part


CAMERAS: Registry[Camera] = Registry(
    "camera",
    {
        "picamera2": "presensi.hardware.camera_picamera2:Picamera2Camera",
        "opencv": "presensi.hardware.camera_opencv:OpenCVCamera",
        "folder": "presensi.hardware.camera_folder:FolderCamera",
        "sim": "presensi.hardware.camera_sim:SimulatedCamera",
    },
)
DECODERS: Registry[Decoder] = Registry(
    "decoder",
    {
        "zxing": "presensi.hardware.decoder_zxing:ZxingDecoder",
        "zbar": "presensi.hardware.decoder_zbar:ZbarDecoder",
    },
)
INDICATORS: Registry[Indicator] = Registry(
    "indicator",
    {
        "gpio": "presensi.hardware.indicator_gpio:GpioIndicator",
        "console": "presensi.hardware.indicator_console:ConsoleIndicator",
        "none": "presensi.hardware.indicator_none:SilentIndicator",
    },
)
SCANNERS: Registry[CodeScanner] = Registry(
    "scanner",
    {"serial": "presensi.hardware.scanner_serial:SerialScanner"},
)
