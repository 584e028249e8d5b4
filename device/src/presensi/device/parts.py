"""Build a station's hardware parts from its config: each backend chosen by its explicit name
through the registries of presensi.hardware.backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from presensi.device.config import StationConfig
from presensi.device.station import Parts
from presensi.hardware.backends import CAMERAS, DECODERS, INDICATORS, SCANNERS

if TYPE_CHECKING:
    from presensi.hardware.camera import Camera
    from presensi.hardware.indicator import Indicator
    from presensi.hardware.scanner import CodeScanner


def build_parts(config: StationConfig) -> Parts:
    camera = build_camera(config)
    return Parts(
        indicator=build_indicator(config),
        camera=camera,
        decoder=DECODERS.make(config.decoder.backend) if camera is not None else None,
        scanner=build_scanner(config),
    )


def build_indicator(config: StationConfig) -> Indicator:
    ind = config.indicator
    if ind.backend == "gpio":
        return INDICATORS.make(
            "gpio",
            green_pin=ind.green_pin,
            red_pin=ind.red_pin,
            buzzer_pin=ind.buzzer_pin,
            active_high=ind.active_high,
        )
    if ind.backend == "console":
        return INDICATORS.make("console", prefix=config.station.id)
    return INDICATORS.make(ind.backend)


def build_scanner(config: StationConfig) -> CodeScanner | None:
    if not config.scanner.port:
        return None
    return SCANNERS.make("serial", port=config.scanner.port, baudrate=config.scanner.baudrate)


def build_camera(config: StationConfig) -> Camera | None:
    cam = config.camera
    if cam.backend == "none":  # a scan head with a serial scanner module only
        return None
    if cam.backend == "picamera2":
        settings: dict[str, Any] = {
            "max_exposure_ms": cam.max_exposure_ms or None,  # 0: the sensor's own profile
            "max_gain": cam.max_gain,
        }
        if cam.fps is not None:  # else the backend's measured default
            settings["fps"] = cam.fps
        return CAMERAS.make("picamera2", size=(cam.width, cam.height), **settings)
    if cam.backend == "opencv":
        source: int | str = int(cam.source) if cam.source.isdigit() else cam.source
        return CAMERAS.make(
            "opencv", source=source, width=cam.width, height=cam.height, fps=cam.fps
        )
    if cam.backend == "folder":
        return CAMERAS.make("folder", path=config.path(cam.source), watch=cam.watch, fps=cam.fps)
    # sim: camera.source names a text file of badge tokens, one per line, presented in turn
    texts = config.path(cam.source).read_text().split()
    return CAMERAS.make("sim", script=texts, fps=cam.fps)
