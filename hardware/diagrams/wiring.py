"""Draws hardware/diagrams/wiring.svg: the station's wiring on the Raspberry Pi's 40-pin header.

    python hardware/diagrams/wiring.py          # rewrite wiring.svg
    python hardware/diagrams/wiring.py --check  # exit 1 if wiring.svg is out of date

The pins are the station config's defaults ([indicator] green_pin, red_pin, buzzer_pin: BCM
numbers) and the Pi's UART; tests/hardware/test_wiring_diagram.py checks that they agree with
presensi.device.config and that the committed SVG is what this script draws. Plain SVG 1.1, no
fonts beyond the generic families, so any browser or image viewer shows it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).with_name("wiring.svg")

# BCM numbers of the station's outputs (presensi.device.config.IndicatorSection defaults)
GREEN_PIN = 17
RED_PIN = 27
BUZZER_PIN = 22
UART_TX = 14
UART_RX = 15

# The header terminals the station uses, top to bottom in the drawing: (physical pins, label).
# Physical numbers are the same on the Zero 2 W, 3B+, 4 and 5 (`pinout` on a Pi prints them).
TERMINALS = [
    ((2,), "5V"),
    ((11,), f"GPIO{GREEN_PIN}"),
    ((13,), f"GPIO{RED_PIN}"),
    ((15,), f"GPIO{BUZZER_PIN}"),
    ((8,), f"GPIO{UART_TX} TXD"),
    ((10,), f"GPIO{UART_RX} RXD"),
    ((6, 9, 14), "GND"),
]
BCM_TO_PHYSICAL = {GREEN_PIN: 11, RED_PIN: 13, BUZZER_PIN: 15, UART_TX: 8, UART_RX: 10}

GREEN = "#1a9c3c"
RED = "#c62828"
BLACK = "#222222"
POWER = "#d35400"
SIGNAL = "#6a1b9a"
UART = "#1f5fbf"
# rows below the buzzer stage leave room for its pull-down and emitter
ROW = {label: 100 + n * 50 + (60 if n > 3 else 0) for n, (_, label) in enumerate(TERMINALS)}
EDGE = 250  # x of the terminals on the header block


class Svg:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []

    def add(self, element: str) -> None:
        self.parts.append(element)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str = BLACK) -> None:
        self.add(
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
        )

    def line(self, points: list[tuple[float, float]], color: str, width: float = 3) -> None:
        path = " ".join(f"{x},{y}" for x, y in points)
        self.add(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="{width}" '
            'stroke-linejoin="round" stroke-linecap="round"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        size: int = 12,
        anchor: str = "start",
        bold: bool = False,
    ) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.add(
            f'<text x="{x}" y="{y}" font-family="sans-serif" font-size="{size}" '
            f'text-anchor="{anchor}"{weight} fill="{BLACK}">{escape(content)}</text>'
        )

    def circle(self, x: float, y: float, r: float, fill: str) -> None:
        self.add(f'<circle cx="{x}" cy="{y}" r="{r}" fill="{fill}" stroke="{BLACK}"/>')

    def resistor(self, x: float, y: float, label: str, *, vertical: bool = False) -> None:
        """A 40-long resistor from (x, y) to the right (or downwards), labelled."""
        if vertical:
            self.rect(x - 8, y, 16, 40, "#f5f5f5")
            self.text(x + 14, y + 24, label, 11)
        else:
            self.rect(x, y - 8, 40, 16, "#f5f5f5")
            self.text(x + 20, y - 13, label, 11, "middle")

    def ground(self, x: float, y: float) -> None:
        """The ground symbol hanging from (x, y): connect to any GND pin."""
        self.line([(x, y), (x, y + 10)], BLACK, 2)
        for n, half in enumerate((10, 6, 2)):
            yy = y + 10 + n * 4
            self.line([(x - half, yy), (x + half, yy)], BLACK, 2)

    def render(self) -> str:
        body = "\n  ".join(self.parts)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">\n'
            f"  {body}\n</svg>\n"
        )


def draw_header(svg: Svg) -> None:
    top, bottom = ROW["5V"] - 30, ROW["GND"] + 30
    svg.rect(40, top, EDGE - 40, bottom - top, "#2e7d32")
    svg.text((40 + EDGE) / 2, top - 10, "Raspberry Pi 40-pin header", 13, "middle", bold=True)
    for pins, label in TERMINALS:
        y = ROW[label]
        where = "pin " + " / ".join(str(p) for p in pins)
        svg.rect(52, y - 13, EDGE - 64, 26, "#ffffff", stroke="#ffffff")
        svg.text(60, y + 4, f"{where}  {label}", 12, bold=True)
        svg.circle(EDGE, y, 6, "#ffd54f")
    svg.ground(EDGE + 20, ROW["GND"])
    svg.line([(EDGE + 6, ROW["GND"]), (EDGE + 20, ROW["GND"])], BLACK, 2)
    svg.text(EDGE + 40, ROW["GND"] + 20, "= every ground symbol in this drawing (any GND pin)", 12)


def draw_led(svg: Svg, label: str, color: str, meaning: str) -> None:
    y = ROW[label]
    svg.line([(EDGE + 6, y), (320, y)], color)
    svg.resistor(320, y, "330 Ω")
    svg.line([(360, y), (400, y)], color)
    svg.circle(412, y, 12, color)
    svg.text(412, y + 4, "+", 12, "middle", bold=True)
    svg.line([(424, y), (440, y)], BLACK, 2)
    svg.ground(440, y)
    svg.text(462, y + 4, meaning, 12)


def draw_buzzer(svg: Svg) -> None:
    five, gpio = ROW["5V"], ROW[f"GPIO{BUZZER_PIN}"]
    x = 700
    svg.line([(EDGE + 6, five), (x, five), (x, five + 45)], POWER)
    svg.rect(x - 35, five + 45, 70, 34, "#fff3e0")
    svg.text(x, five + 67, "buzzer", 12, "middle", bold=True)
    svg.text(x + 45, five + 58, "active, 5 V, ≥ 85 dB", 11)
    svg.text(x + 45, five + 73, "1N4148 across it,", 11)
    svg.text(x + 45, five + 87, "cathode to 5 V", 11)
    svg.line([(x, five + 79), (x, gpio - 20)], POWER)
    svg.line([(EDGE + 6, gpio), (320, gpio)], SIGNAL)
    svg.resistor(320, gpio, "1 kΩ")
    svg.line([(360, gpio), (x - 20, gpio)], SIGNAL)
    svg.circle(x, gpio, 20, "#eeeeee")
    svg.text(x, gpio + 4, "NPN", 11, "middle", bold=True)
    svg.text(x + 28, gpio + 4, "2N2222 / S8050", 11)
    svg.line([(x, gpio + 20), (x, gpio + 32)], BLACK, 2)
    svg.ground(x, gpio + 32)
    # the pull-down keeps the buzzer silent while the Pi boots
    svg.line([(600, gpio), (600, gpio + 10)], SIGNAL, 2)
    svg.resistor(600, gpio + 10, "10 kΩ", vertical=True)
    svg.ground(600, gpio + 50)


def draw_scanner(svg: Svg) -> None:
    tx, rx = ROW[f"GPIO{UART_TX} TXD"], ROW[f"GPIO{UART_RX} RXD"]
    box_x = 560
    svg.line([(EDGE + 6, tx), (box_x, tx)], UART)
    svg.line([(EDGE + 6, rx), (box_x, rx)], UART)
    svg.text(300, tx - 7, "Pi TXD → scanner RX", 11)
    svg.text(300, rx - 7, "scanner TX → Pi RXD (3.3 V logic)", 11)
    svg.rect(box_x, tx - 28, 300, rx - tx + 50, "#e3f2fd")
    svg.text(box_x + 150, tx - 6, "QR scanner module (GM65 / GM861)", 12, "middle", bold=True)
    svg.text(box_x + 150, tx + 14, "UART 9600 baud 8N1; power 5 V + GND", 11, "middle")
    svg.text(box_x + 150, tx + 30, "a TX at 5 V needs a level shifter or divider", 11, "middle")
    svg.text(box_x + 150, tx + 46, "or on USB in USB-COM mode (/dev/ttyACM0):", 11, "middle")
    svg.text(box_x + 150, tx + 62, "then no wires to the header at all", 11, "middle")


def draw() -> str:
    svg = Svg(900, 580)
    svg.rect(0, 0, 900, 580, "#ffffff", stroke="#ffffff")
    svg.text(20, 34, "Presensi station wiring", 18, bold=True)
    svg.text(
        270, 34, "GPIO = BCM numbers, as in the station config; the camera uses its ribbon", 12
    )
    draw_header(svg)
    draw_led(svg, f"GPIO{GREEN_PIN}", GREEN, "green LED: recorded")
    draw_led(svg, f"GPIO{RED_PIN}", RED, "red LED: refused, fault")
    draw_buzzer(svg)
    draw_scanner(svg)
    legend = [(GREEN, "green LED"), (RED, "red LED"), (POWER, "5 V to the buzzer")]
    legend += [(SIGNAL, "buzzer control"), (UART, "serial scanner")]
    for n, (color, label) in enumerate(legend):
        x = 20 + n * 170
        svg.line([(x, 560), (x + 30, 560)], color)
        svg.text(x + 38, 564, label, 12)
    return svg.render()


def main(argv: list[str]) -> int:
    drawn = draw()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != drawn:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(drawn, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
