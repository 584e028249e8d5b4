"""The indicator on GPIO pins via gpiozero: a green LED, a red LED and an active buzzer.

Pin numbers are BCM numbers. gpiozero is imported only when a GpioIndicator is built, so the
station package imports on machines without it.
"""

from __future__ import annotations

from typing import Any

from presensi.hardware.errors import IndicatorError
from presensi.hardware.indicator import PATTERNS, PatternPlayer, Signal


class GpioIndicator:
    """Shows signals on real (or gpiozero mock) pins, one background thread per indicator."""

    name = "gpio"

    def __init__(
        self,
        green_pin: int,
        red_pin: int,
        buzzer_pin: int,
        *,
        pin_factory: Any = None,
        active_high: bool = True,
        time_scale: float = 1.0,
    ) -> None:
        gpiozero = _import_gpiozero()
        self._gpio_error: type[Exception] = gpiozero.GPIOZeroError
        wanted = (
            ("green LED", gpiozero.LED, green_pin),
            ("red LED", gpiozero.LED, red_pin),
            ("buzzer", gpiozero.Buzzer, buzzer_pin),
        )
        devices: list[Any] = []
        try:
            for role, device_class, pin in wanted:
                device = _open(
                    gpiozero,
                    role,
                    device_class,
                    pin,
                    pin_factory=pin_factory,
                    active_high=active_high,
                )
                devices.append(device)
        except IndicatorError:
            _close_all(devices)
            raise
        self._green, self._red, self._buzzer = devices
        self._player = PatternPlayer(self._apply, time_scale=time_scale, name=self.name)

    def show(self, signal: Signal) -> None:
        self._player.play(PATTERNS[signal])

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the current pattern has finished; False on timeout."""
        return self._player.wait_idle(timeout)

    def close(self) -> None:
        """Turn everything off and release the pins. Safe to call twice."""
        try:
            self._player.close()
        finally:
            _close_all([self._green, self._red, self._buzzer])

    def _apply(self, green: bool, red: bool, buzzer: bool) -> None:
        try:
            self._green.value = green
            self._red.value = red
            self._buzzer.value = buzzer
        except self._gpio_error as exc:
            raise IndicatorError(f"cannot drive the indicator pins: {exc}") from exc


def _import_gpiozero() -> Any:
    try:
        import gpiozero
    except ImportError as exc:
        raise IndicatorError(
            "the gpio indicator needs gpiozero: install presensi[station] "
            "(and presensi[pi] on a Raspberry Pi for the lgpio pin backend)"
        ) from exc
    return gpiozero


def _open(gpiozero: Any, role: str, device_class: Any, pin: int, **options: Any) -> Any:
    """Build one gpiozero output device, turning its errors into an IndicatorError that helps."""
    try:
        return device_class(pin, initial_value=False, **options)
    except (gpiozero.GPIOZeroError, OSError) as exc:
        raise IndicatorError(f"{role} on GPIO{pin}: {_advice(gpiozero, exc)}") from exc


def _advice(gpiozero: Any, exc: Exception) -> str:
    """Say what went wrong in installer's words and what to check."""
    if isinstance(exc, gpiozero.GPIOPinInUse):
        return (
            f"pin already in use ({exc}); check that the green, red and buzzer pins in the station "
            "config differ and that no other program or station service holds the pin"
        )
    if isinstance(exc, gpiozero.BadPinFactory):
        return (
            f"no GPIO backend available ({exc}); on a Raspberry Pi install lgpio (presensi[pi]) "
            "and check access to /dev/gpiochip*, elsewhere use the console indicator"
        )
    return (
        f"cannot open the pin ({exc}); check that it is a BCM GPIO number (not a physical "
        "pin number) and the wiring"
    )


def _close_all(devices: list[Any]) -> None:
    for device in devices:
        device.close()
