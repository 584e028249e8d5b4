"""A station's parts come from its config, each backend by the name the config gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from presensi.device import config as station_config
from presensi.device import testbed
from presensi.device.parts import build_indicator, build_parts
from presensi.hardware.camera_sim import SimulatedCamera
from presensi.hardware.indicator_console import ConsoleIndicator
from presensi.hardware.indicator_none import SilentIndicator


@pytest.mark.parametrize(
    ("backend", "kind"), [("none", SilentIndicator), ("console", ConsoleIndicator)]
)
def test_the_indicator_is_the_one_named(tmp_path: Path, backend: str, kind: type) -> None:
    bed = testbed.create(tmp_path, indicator=backend)
    indicator = build_indicator(station_config.load(bed.config_path))
    try:
        assert type(indicator) is kind  # "none" used to give a console indicator silently
    finally:
        indicator.close()


def test_gpio_indicator_on_mock_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    bed = testbed.create(tmp_path, indicator="gpio")
    indicator = build_indicator(station_config.load(bed.config_path))
    try:
        assert indicator.name == "gpio"
    finally:
        indicator.close()


def test_a_camera_station_gets_camera_and_decoder_and_no_scanner(tmp_path: Path) -> None:
    bed = testbed.create(tmp_path, camera="sim")
    parts = build_parts(station_config.load(bed.config_path))
    try:
        assert isinstance(parts.camera, SimulatedCamera)
        assert parts.decoder is not None and parts.decoder.name == "zxing"
        assert parts.scanner is None
    finally:
        parts.indicator.close()
