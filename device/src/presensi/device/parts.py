"""Build a station's hardware parts from its config (each backend chosen by explicit name)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from presensi.device.config import StationConfig
from presensi.device.station import Parts
from presensi.hardware.decoders import open_decoder

if TYPE_CHECKING:
    from presensi.hardware.camera import Camera
    from presensi.hardware.indicator import Indicator


def build_parts(config: StationConfig) -> Parts:
    camera = build_camera(config)
    scanner = None
    if config.scanner.port:
        from presensi.hardware.scanner_serial import SerialScanner

        scanner = SerialScanner(config.scanner.port, config.scanner.baudrate)
    return Parts(
        indicator=build_indicator(config),
        camera=camera,
        decoder=open_decoder(config.decoder.backend) if camera is not None else None,
        scanner=scanner,
    )


def build_indicator(config: StationConfig) -> Indicator:
    ind = config.indicator
    if ind.backend == "gpio":
        from presensi.hardware.indicator_gpio import GpioIndicator

        return GpioIndicator(
            ind.green_pin, ind.red_pin, ind.buzzer_pin, active_high=ind.active_high
        )
    from presensi.hardware.indicator_console import ConsoleIndicator

    return ConsoleIndicator(prefix=config.station.id)


def build_camera(config: StationConfig) -> Camera | None:
    cam = config.camera
    if cam.backend == "none":
        return None
    from presensi.hardware.cameras import make_camera

    size = (cam.width, cam.height)
    if cam.backend == "picamera2":
        return make_camera("picamera2", size=size)
    if cam.backend == "opencv":
        source: int | str = int(cam.source) if cam.source.isdigit() else cam.source
        return make_camera("opencv", source=source, width=cam.width, height=cam.height, fps=cam.fps)
    if cam.backend == "folder":
        return make_camera("folder", path=config.path(cam.source), fps=cam.fps)
    # sim: camera.source names a text file of badge tokens, one per line, presented in turn
    texts = config.path(cam.source).read_text().split()
    return make_camera("sim", script=texts, fps=cam.fps)
