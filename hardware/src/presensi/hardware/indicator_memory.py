"""An indicator that records what it was asked to show: for tests of the scan loop."""

from __future__ import annotations

import threading
import time

from presensi.hardware.errors import IndicatorError
from presensi.hardware.indicator import Signal


class RecordingIndicator:
    """Records (time.monotonic_ns(), signal) per show; thread-safe."""

    name = "recording"

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._shown: list[tuple[int, Signal]] = []
        self._closed = False

    def show(self, signal: Signal) -> None:
        with self._changed:
            if self._closed:
                raise IndicatorError("the indicator is closed")
            self._shown.append((time.monotonic_ns(), signal))
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True

    @property
    def closed(self) -> bool:
        with self._changed:
            return self._closed

    @property
    def shown(self) -> list[tuple[int, Signal]]:
        """A copy of the (monotonic_ns, signal) records, oldest first."""
        with self._changed:
            return list(self._shown)

    @property
    def signals(self) -> list[Signal]:
        """The signals shown so far, oldest first."""
        with self._changed:
            return [signal for _, signal in self._shown]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` signals were shown; False if `timeout` seconds passed."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._shown) >= count, timeout)
