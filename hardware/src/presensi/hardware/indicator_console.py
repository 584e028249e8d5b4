"""An indicator that prints one line per signal: for the demo and for laptops without GPIO.

    [ ● green ♪ ] accepted_in
    [ ● red ♪♪♪ ] rejected

● is the light and its colour ("amber" when both LEDs are on together); ♪ is a short beep and
♫ a long one. Streams that cannot encode these get "*", "." and "-" instead. The line is derived
from PATTERNS, so it always matches what a GPIO station would do.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import NamedTuple, TextIO

from presensi.hardware.errors import IndicatorError
from presensi.hardware.indicator import LONG_SECONDS, PATTERNS, Signal, Step, beeps


class Glyphs(NamedTuple):
    light: str
    short_beep: str
    long_beep: str


UNICODE_GLYPHS = Glyphs(light="●", short_beep="♪", long_beep="♫")
ASCII_GLYPHS = Glyphs(light="*", short_beep=".", long_beep="-")


class ConsoleIndicator:
    """Prints the signal and returns at once; it does not play the pattern's timing."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, *, prefix: str = "") -> None:
        """`stream` defaults to sys.stdout, looked up now (not at import); `prefix`: station id."""
        self._stream = sys.stdout if stream is None else stream
        self._prefix = f"{prefix} " if prefix else ""
        glyphs = UNICODE_GLYPHS if _can_encode(self._stream, UNICODE_GLYPHS) else ASCII_GLYPHS
        self._lines = {signal: describe(steps, glyphs) for signal, steps in PATTERNS.items()}
        self._lock = threading.Lock()
        self._closed = False

    def show(self, signal: Signal) -> None:
        with self._lock:
            if self._closed:
                raise IndicatorError("the indicator is closed")
            self._stream.write(f"{self._prefix}{self._lines[signal]} {signal}\n")
            self._stream.flush()

    def close(self) -> None:
        """Stop showing; the stream stays open (it usually is stdout)."""
        with self._lock:
            self._closed = True


def describe(steps: Sequence[Step], glyphs: Glyphs = UNICODE_GLYPHS) -> str:
    """The bracketed summary of a pattern, e.g. "[ ● green ♪♪ ]"."""
    sounds = "".join(
        glyphs.long_beep if seconds >= LONG_SECONDS else glyphs.short_beep
        for seconds in beeps(steps)
    )
    parts = [glyphs.light, _colour(steps), sounds] if sounds else [glyphs.light, _colour(steps)]
    return f"[ {' '.join(parts)} ]"


def _colour(steps: Sequence[Step]) -> str:
    if any(step.green and step.red for step in steps):
        return "amber"
    if any(step.green for step in steps):
        return "green"
    return "red" if any(step.red for step in steps) else "dark"


def _can_encode(stream: TextIO, glyphs: Glyphs) -> bool:
    encoding = getattr(stream, "encoding", None)
    if encoding is None:  # e.g. io.StringIO: holds any text
        return True
    try:
        "".join(glyphs).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
