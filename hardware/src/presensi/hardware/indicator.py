"""The indicator interface: show a named signal with the green LED, the red LED and the buzzer."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from presensi.hardware.errors import IndicatorError

logger = logging.getLogger(__name__)


class Signal(enum.StrEnum):
    READY = "ready"
    ACCEPTED_IN = "accepted_in"
    ACCEPTED_OUT = "accepted_out"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAULT = "fault"


class Indicator(Protocol):
    name: str

    def show(self, signal: Signal) -> None:
        """Start showing `signal` and return once its first step is on the pins.

        The rest of the pattern plays in the background; a new signal cuts the old one short.
        """
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One slice of a pattern: which outputs are on, and for how long."""

    green: bool
    red: bool
    buzzer: bool
    seconds: float


#: Durations at or above this are "long" beeps/flashes, below it "short" (for the rhythm checks).
LONG_SECONDS = 0.3


def _green(seconds: float, *, beep: bool = False) -> Step:
    return Step(green=True, red=False, buzzer=beep, seconds=seconds)


def _red(seconds: float, *, beep: bool = False) -> Step:
    return Step(green=False, red=True, buzzer=beep, seconds=seconds)


def _amber(seconds: float, *, beep: bool = False) -> Step:
    return Step(green=True, red=True, buzzer=beep, seconds=seconds)


def _dark(seconds: float) -> Step:
    return Step(green=False, red=False, buzzer=False, seconds=seconds)


# The single source of truth for what the driver sees and hears; hardware/README.md describes it in
# words. Rule: the light flashes together with each beep, so counting either gives the answer.
# Every pair differs in the beep rhythm (count, short/long) and in the flash rhythm with colour
# ignored; after the last step every output goes off.
PATTERNS: Mapping[Signal, tuple[Step, ...]] = MappingProxyType(
    {
        Signal.READY: (_green(0.2),),
        Signal.ACCEPTED_IN: (_green(0.15, beep=True), _green(1.0)),
        Signal.ACCEPTED_OUT: (
            _green(0.15, beep=True),
            _dark(0.1),
            _green(0.15, beep=True),
            _green(0.9),
        ),
        Signal.DUPLICATE: (_amber(0.5, beep=True), _dark(0.2), _amber(0.5)),
        Signal.REJECTED: (
            _red(0.1, beep=True),
            _dark(0.1),
            _red(0.1, beep=True),
            _dark(0.1),
            _red(0.1, beep=True),
            _red(1.0),
        ),
        Signal.FAULT: (
            _red(0.5, beep=True),
            _dark(0.3),
            _red(0.5, beep=True),
            _dark(0.3),
            _red(0.5),
        ),
    }
)

# One line per signal, in words: what the driver sees and hears (hardware/README.md says the same).
DESCRIPTIONS: Mapping[Signal, str] = MappingProxyType(
    {
        Signal.READY: "one brief green wink, silent: the station has started and is scanning",
        Signal.ACCEPTED_IN: "one short beep, green stays on about a second: boarding recorded",
        Signal.ACCEPTED_OUT: "two short beeps, green blinks then stays on: alighting recorded",
        Signal.DUPLICATE: "one long beep, both LEDs (amber) flash twice slowly: already scanned",
        Signal.REJECTED: "three fast beeps, red blinks fast then stays on: badge not accepted",
        Signal.FAULT: "two long beeps, red blinks slowly three times: station needs attention",
    }
)


def _on_runs(steps: Sequence[Step], is_on: Callable[[Step], bool]) -> tuple[float, ...]:
    """Durations of the stretches where `is_on` holds (adjacent 'on' steps merged)."""
    runs: list[float] = []
    previous = False
    for step in steps:
        on = is_on(step)
        if on and previous:
            runs[-1] += step.seconds
        elif on:
            runs.append(step.seconds)
        previous = on
    return tuple(runs)


def beeps(steps: Sequence[Step]) -> tuple[float, ...]:
    """Durations of the beeps of a pattern, in order."""
    return _on_runs(steps, lambda step: step.buzzer)


def flashes(steps: Sequence[Step]) -> tuple[float, ...]:
    """Durations of the light flashes of a pattern, colour ignored (as a colour-blind eye sees)."""
    return _on_runs(steps, lambda step: step.green or step.red)


Apply = Callable[[bool, bool, bool], None]
"""Drive the outputs: apply(green, red, buzzer)."""


class PatternPlayer:
    """Plays patterns on an `apply(green, red, buzzer)` callable from a background thread.

    ``play`` puts the first step on the outputs before it returns; the rest follows in the
    background, and a new ``play`` cuts the current pattern short. ``time_scale`` multiplies
    every step's duration (tests use e.g. 0.05).
    """

    def __init__(self, apply: Apply, *, time_scale: float = 1.0, name: str = "indicator") -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self._apply = apply
        self._time_scale = time_scale
        self._changed = threading.Condition()
        self._remaining: deque[Step] = deque()
        self._step_ends: float | None = None  # monotonic end of the step on the outputs; None: idle
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-pattern", daemon=True)
        self._thread.start()

    def play(self, steps: Sequence[Step]) -> None:
        """Show the first step now, the rest in the background; replaces any running pattern."""
        if not steps:
            raise ValueError("a pattern needs at least one step")
        with self._changed:
            if self._closed:
                raise IndicatorError("the indicator is closed")
            self._remaining.clear()
            self._show(steps[0])
            self._remaining.extend(steps[1:])
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the pattern has ended and the outputs are off; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._step_ends is None, timeout)

    def close(self) -> None:
        """Stop the background thread and turn every output off. Safe to call twice."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._remaining.clear()
            self._step_ends = None
            self._changed.notify_all()
        self._thread.join()
        self._apply(False, False, False)

    def _show(self, step: Step) -> None:
        """Put `step` on the outputs (caller holds the lock; applying is quick, no sleeping)."""
        self._apply(step.green, step.red, step.buzzer)
        self._step_ends = time.monotonic() + step.seconds * self._time_scale

    def _run(self) -> None:
        with self._changed:
            while not self._closed:
                if self._step_ends is None:
                    self._changed.wait()
                elif (left := self._step_ends - time.monotonic()) > 0:
                    self._changed.wait(left)
                else:
                    self._advance()

    def _advance(self) -> None:
        """The step on the outputs has run its time: show the next one, or go dark and idle."""
        try:
            if self._remaining:
                self._show(self._remaining.popleft())
                return
            self._apply(False, False, False)
        except Exception:
            logger.exception("cannot drive the indicator outputs; pattern abandoned")
            self._remaining.clear()
        self._step_ends = None
        self._changed.notify_all()
