"""hardware/diagrams/wiring.svg is drawn from hardware/diagrams/wiring.py, with the pins the
station config uses by default: the committed drawing is up to date and agrees with the config."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

from presensi.device.config import IndicatorSection

SVG = "http://www.w3.org/2000/svg"
SCRIPT = Path(__file__).resolve().parents[2] / "hardware" / "diagrams" / "wiring.py"


def wiring() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wiring", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_drawing_uses_the_configs_default_pins() -> None:
    drawn, defaults = wiring(), IndicatorSection()
    assert (
        defaults.green_pin,
        defaults.red_pin,
        defaults.buzzer_pin,
    ) == (drawn.GREEN_PIN, drawn.RED_PIN, drawn.BUZZER_PIN)
    # BCM 17, 27, 22 sit on physical pins 11, 13, 15 of the 40-pin header
    assert drawn.BCM_TO_PHYSICAL[17] == 11
    assert drawn.BCM_TO_PHYSICAL[27] == 13
    assert drawn.BCM_TO_PHYSICAL[22] == 15


def test_the_committed_svg_is_what_the_script_draws() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    root = ET.parse(SCRIPT.with_name("wiring.svg")).getroot()
    texts = " ".join(" ".join((t.text or "").split()) for t in root.iter(f"{{{SVG}}}text"))
    for label in ("pin 11 GPIO17", "pin 13 GPIO27", "pin 15 GPIO22", "330 Ω", "1 kΩ"):
        assert label in texts
