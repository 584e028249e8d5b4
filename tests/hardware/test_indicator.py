"""The indicator patterns, the pattern player and the gpio, console and recording backends.

GPIO tests run on gpiozero's mock pins; a pin records every change of its level in `.states`.
Patterns play at a reduced `time_scale` so that the whole file runs in about a second.
"""

from __future__ import annotations

import io
import itertools
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from presensi.hardware.errors import HardwareError, IndicatorError
from presensi.hardware.indicator import (
    DESCRIPTIONS,
    LONG_SECONDS,
    PATTERNS,
    PatternPlayer,
    Signal,
    Step,
    beeps,
    flashes,
)
from presensi.hardware.indicator_console import ConsoleIndicator, describe
from presensi.hardware.indicator_gpio import GpioIndicator
from presensi.hardware.indicator_memory import RecordingIndicator

GREEN, RED, BUZZER = 17, 27, 22
OUTPUTS = {"green": GREEN, "red": RED, "buzzer": BUZZER}
FAST = 0.02  # the longest pattern (about 2 s) plays in about 40 ms


def total_seconds(steps: Sequence[Step]) -> float:
    return sum(step.seconds for step in steps)


def changes(levels: Iterable[bool]) -> list[bool]:
    """The levels a pin goes through, as gpiozero's MockPin records them (changes only)."""
    return [level for level, _ in itertools.groupby(levels)]


def expected_levels(steps: Sequence[Step], output: str, *, active_high: bool = True) -> list[bool]:
    """Off, then each step's value for `output`, then off again; inverted for active-low."""
    values = [False, *(getattr(step, output) for step in steps), False]
    return changes(value == active_high for value in values)


def levels(factory: Any, pin: int) -> list[bool]:
    return [bool(state.state) for state in factory.pin(pin).states]


def outputs_now(factory: Any) -> tuple[bool, bool, bool]:
    return (
        bool(factory.pin(GREEN).state),
        bool(factory.pin(RED).state),
        bool(factory.pin(BUZZER).state),
    )


def forget_history(factory: Any) -> None:
    for pin in OUTPUTS.values():
        factory.pin(pin).clear_states()


@pytest.fixture
def factory() -> Iterator[Any]:
    mock_factory = MockFactory()
    yield mock_factory
    mock_factory.reset()


@pytest.fixture
def make_gpio(factory: Any) -> Iterator[Any]:
    """Build GpioIndicators on the mock factory; all are closed after the test."""
    built: list[GpioIndicator] = []

    def make(*, time_scale: float = FAST, active_high: bool = True) -> GpioIndicator:
        indicator = GpioIndicator(
            GREEN,
            RED,
            BUZZER,
            pin_factory=factory,
            active_high=active_high,
            time_scale=time_scale,
        )
        built.append(indicator)
        return indicator

    yield make
    for indicator in built:
        indicator.close()


# --- the pattern table ---------------------------------------------------------------------


def beep_rhythm(signal: Signal) -> tuple[str, ...]:
    return tuple("long" if s >= LONG_SECONDS else "short" for s in beeps(PATTERNS[signal]))


def flash_rhythm(signal: Signal) -> tuple[str, ...]:
    return tuple("long" if s >= LONG_SECONDS else "short" for s in flashes(PATTERNS[signal]))


def test_every_signal_has_a_pattern_and_a_description() -> None:
    assert set(PATTERNS) == set(Signal)
    assert set(DESCRIPTIONS) == set(Signal)
    for signal, steps in PATTERNS.items():
        assert steps, signal
        assert all(step.seconds > 0 for step in steps), signal
        first = steps[0]
        assert first.green or first.red, f"{signal} must light up at once"
        assert total_seconds(steps) <= 2.5, f"{signal} would hold up the next passenger"


@pytest.mark.parametrize(
    ("first", "second"), list(itertools.combinations(list(Signal), 2)), ids=str
)
def test_every_pair_differs_by_sound_alone_and_by_light_alone(
    first: Signal, second: Signal
) -> None:
    assert beep_rhythm(first) != beep_rhythm(second)
    # colour ignored: a colour-blind driver still tells them apart by the flashes
    assert flash_rhythm(first) != flash_rhythm(second)


def test_rhythms_are_the_documented_ones() -> None:
    assert {signal: beep_rhythm(signal) for signal in Signal} == {
        Signal.READY: (),
        Signal.ACCEPTED_IN: ("short",),
        Signal.ACCEPTED_OUT: ("short", "short"),
        Signal.DUPLICATE: ("long",),
        Signal.REJECTED: ("short", "short", "short"),
        Signal.FAULT: ("long", "long"),
    }


def test_beeps_and_flashes_merge_adjacent_steps() -> None:
    steps = (
        Step(green=True, red=False, buzzer=True, seconds=0.1),
        Step(green=True, red=True, buzzer=True, seconds=0.2),
        Step(green=False, red=False, buzzer=False, seconds=0.1),
        Step(green=False, red=True, buzzer=False, seconds=0.4),
    )
    assert beeps(steps) == pytest.approx((0.3,))
    assert flashes(steps) == pytest.approx((0.3, 0.4))


# --- the pattern player --------------------------------------------------------------------


class Outputs:
    """A fake apply(): records every call and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, bool, bool]] = []
        self._changed = threading.Condition()

    def __call__(self, green: bool, red: bool, buzzer: bool) -> None:
        with self._changed:
            self.calls.append((green, red, buzzer))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 2.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.calls) >= count, timeout)


OFF = (False, False, False)


def test_player_applies_every_step_then_turns_off() -> None:
    outputs = Outputs()
    player = PatternPlayer(outputs, time_scale=FAST)
    try:
        player.play(PATTERNS[Signal.REJECTED])
        assert player.wait_idle(timeout=2)
    finally:
        player.close()
    played = [(s.green, s.red, s.buzzer) for s in PATTERNS[Signal.REJECTED]]
    assert outputs.calls == [*played, OFF, OFF]  # the last OFF is close()


def test_player_applies_the_first_step_before_play_returns() -> None:
    outputs = Outputs()
    player = PatternPlayer(outputs)  # real time: the first step lasts 10 s
    try:
        player.play([Step(green=False, red=True, buzzer=True, seconds=10.0)])
        assert outputs.calls == [(False, True, True)]
        assert not player.wait_idle(timeout=0)
    finally:
        player.close()


def test_new_pattern_cuts_the_running_one_short_mid_pattern() -> None:
    outputs = Outputs()
    player = PatternPlayer(outputs)
    slow = [
        Step(green=True, red=False, buzzer=False, seconds=0.01),
        Step(green=False, red=True, buzzer=False, seconds=10.0),
        Step(green=False, red=False, buzzer=True, seconds=10.0),
    ]
    quick = [Step(green=True, red=True, buzzer=True, seconds=0.01)]
    try:
        player.play(slow)
        assert outputs.wait_for(2)  # the 10 s step is on
        started = time.monotonic()
        player.play(quick)
        assert player.wait_idle(timeout=2)
        assert time.monotonic() - started < 1.0
    finally:
        player.close()
    assert outputs.calls == [
        (True, False, False),
        (False, True, False),
        (True, True, True),
        OFF,
        OFF,
    ]


def test_pattern_takes_its_scaled_time() -> None:
    outputs = Outputs()
    player = PatternPlayer(outputs, time_scale=0.1)
    steps = PATTERNS[Signal.FAULT]
    try:
        started = time.monotonic()
        player.play(steps)
        assert player.wait_idle(timeout=2)
        elapsed = time.monotonic() - started
    finally:
        player.close()
    assert 0.1 * total_seconds(steps) <= elapsed < 0.1 * total_seconds(steps) + 0.15


def test_player_refuses_empty_patterns_and_bad_scales() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        PatternPlayer(Outputs(), time_scale=0)
    player = PatternPlayer(Outputs())
    try:
        with pytest.raises(ValueError, match="step"):
            player.play([])
    finally:
        player.close()


@pytest.mark.thread_errors("the pattern thread logs the output failure under test")
def test_output_failure_in_the_background_is_logged_and_the_player_goes_idle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[bool, bool, bool]] = []

    def failing_after_first(green: bool, red: bool, buzzer: bool) -> None:
        calls.append((green, red, buzzer))
        if len(calls) == 2:
            raise IndicatorError("pin went away")

    player = PatternPlayer(failing_after_first, time_scale=FAST)
    try:
        player.play(PATTERNS[Signal.ACCEPTED_OUT])
        assert player.wait_idle(timeout=2)
        player.play(PATTERNS[Signal.READY])  # still usable afterwards
        assert player.wait_idle(timeout=2)
    finally:
        player.close()
    assert "pattern abandoned" in caplog.text
    assert calls[-3:] == [(True, False, False), OFF, OFF]


def test_play_after_close_raises_and_close_twice_is_fine() -> None:
    outputs = Outputs()
    player = PatternPlayer(outputs)
    player.close()
    player.close()
    with pytest.raises(IndicatorError, match="closed"):
        player.play(PATTERNS[Signal.READY])
    assert outputs.calls == [OFF]


# --- GpioIndicator on mock pins ------------------------------------------------------------


def test_gpio_indicator_is_named_and_starts_dark(make_gpio: Any, factory: Any) -> None:
    indicator = make_gpio()
    assert indicator.name == "gpio"
    assert outputs_now(factory) == OFF


@pytest.mark.parametrize("signal", list(Signal), ids=str)
def test_gpio_pins_follow_the_pattern_exactly(make_gpio: Any, factory: Any, signal: Signal) -> None:
    indicator = make_gpio()
    forget_history(factory)
    indicator.show(signal)
    assert indicator.wait_idle(timeout=2)
    for output, pin in OUTPUTS.items():
        assert levels(factory, pin) == expected_levels(PATTERNS[signal], output), output


def test_gpio_active_low_inverts_every_level(make_gpio: Any, factory: Any) -> None:
    indicator = make_gpio(active_high=False)
    assert outputs_now(factory) == (True, True, True)  # all off means all high
    for signal in (Signal.DUPLICATE, Signal.REJECTED):
        forget_history(factory)
        indicator.show(signal)
        assert indicator.wait_idle(timeout=2)
        for output, pin in OUTPUTS.items():
            expected = expected_levels(PATTERNS[signal], output, active_high=False)
            assert levels(factory, pin) == expected, (signal, output)


@pytest.mark.parametrize("signal", list(Signal), ids=str)
def test_show_returns_with_the_first_step_on_the_pins(
    make_gpio: Any, factory: Any, signal: Signal
) -> None:
    indicator = make_gpio(time_scale=1.0)  # real durations: the first step lasts >= 0.15 s
    indicator.show(signal)
    first = PATTERNS[signal][0]
    assert outputs_now(factory) == (first.green, first.red, first.buzzer)


def test_gpio_step_durations_are_kept(make_gpio: Any, factory: Any) -> None:
    scale = 0.3
    indicator = make_gpio(time_scale=scale)
    forget_history(factory)
    indicator.show(Signal.ACCEPTED_IN)
    assert indicator.wait_idle(timeout=2)
    beep, light = PATTERNS[Signal.ACCEPTED_IN]
    buzzer_on_for = factory.pin(BUZZER).states[2].timestamp
    green_on_for = factory.pin(GREEN).states[2].timestamp
    assert buzzer_on_for == pytest.approx(beep.seconds * scale, abs=0.03)
    assert green_on_for == pytest.approx((beep.seconds + light.seconds) * scale, abs=0.03)


def test_new_signal_cuts_the_old_one_short(make_gpio: Any, factory: Any) -> None:
    indicator = make_gpio(time_scale=0.1)  # FAULT's first step lasts 50 ms
    forget_history(factory)
    indicator.show(Signal.FAULT)
    started = time.monotonic()
    indicator.show(Signal.ACCEPTED_IN)
    assert outputs_now(factory) == (True, False, True)
    assert indicator.wait_idle(timeout=2)
    elapsed = time.monotonic() - started
    assert levels(factory, RED) == [False, True, False]  # the red never came back
    assert levels(factory, GREEN) == [False, True, False]
    assert levels(factory, BUZZER) == [False, True, False]
    accepted = 0.1 * total_seconds(PATTERNS[Signal.ACCEPTED_IN])
    assert elapsed < accepted + 0.08  # had FAULT played on, it would be >= 0.3 s


def test_cut_mid_pattern_leaves_no_trace_of_the_old_pattern(make_gpio: Any, factory: Any) -> None:
    indicator = make_gpio(time_scale=0.2)
    indicator.show(Signal.REJECTED)
    time.sleep(0.05)  # inside the fast red blinks
    assert not indicator.wait_idle(timeout=0)
    indicator.show(Signal.READY)
    red_changes = len(factory.pin(RED).states)
    buzzer_changes = len(factory.pin(BUZZER).states)
    assert outputs_now(factory) == (True, False, False)
    assert indicator.wait_idle(timeout=2)
    assert len(factory.pin(RED).states) == red_changes
    assert len(factory.pin(BUZZER).states) == buzzer_changes
    assert outputs_now(factory) == OFF


def test_close_turns_everything_off_and_releases_the_pins(factory: Any) -> None:
    indicator = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory)
    indicator.show(Signal.DUPLICATE)
    assert outputs_now(factory) == (True, True, True)
    started = time.monotonic()
    indicator.close()
    assert time.monotonic() - started < 0.5  # did not sit out the pattern
    assert outputs_now(factory) == OFF
    indicator.close()
    with pytest.raises(IndicatorError):
        indicator.show(Signal.READY)
    GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory).close()  # pins are free again


def test_busy_pin_raises_indicator_error_naming_the_pin(make_gpio: Any, factory: Any) -> None:
    make_gpio()
    with pytest.raises(IndicatorError, match=r"green LED on GPIO17: pin already in use") as info:
        GpioIndicator(GREEN, 5, 6, pin_factory=factory)
    assert isinstance(info.value, HardwareError)
    assert "station config" in str(info.value)


def test_same_pin_twice_raises_and_frees_the_pins_it_took(factory: Any) -> None:
    with pytest.raises(IndicatorError, match="red LED on GPIO17"):
        GpioIndicator(GREEN, GREEN, BUZZER, pin_factory=factory)
    GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory).close()


def test_invalid_pin_number_raises_indicator_error(factory: Any) -> None:
    with pytest.raises(IndicatorError, match=r"buzzer on GPIO99: .*BCM"):
        GpioIndicator(GREEN, RED, 99, pin_factory=factory)


def test_missing_pin_backend_raises_indicator_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-backend")
    monkeypatch.setattr(Device, "pin_factory", None)
    with pytest.raises(IndicatorError, match=r"GPIO17: no GPIO backend available.*lgpio"):
        GpioIndicator(GREEN, RED, BUZZER)


def test_missing_gpiozero_raises_indicator_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with pytest.raises(IndicatorError, match="needs gpiozero"):
        GpioIndicator(GREEN, RED, BUZZER)


# --- ConsoleIndicator ----------------------------------------------------------------------


EXPECTED_LINES = [
    "[ ● green ] ready",
    "[ ● green ♪ ] accepted_in",
    "[ ● green ♪♪ ] accepted_out",
    "[ ● amber ♫ ] duplicate",
    "[ ● red ♪♪♪ ] rejected",
    "[ ● red ♫♫ ] fault",
]


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_console_prints_one_flushed_line_per_signal() -> None:
    stream = CountingStream()
    indicator = ConsoleIndicator(stream)
    assert indicator.name == "console"
    for signal in Signal:
        indicator.show(signal)
    assert stream.getvalue().splitlines() == EXPECTED_LINES
    assert stream.flushes == len(Signal)


def test_console_falls_back_to_ascii() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    indicator = ConsoleIndicator(stream, prefix="bus-07")
    for signal in (Signal.ACCEPTED_IN, Signal.DUPLICATE, Signal.REJECTED):
        indicator.show(signal)
    assert raw.getvalue().decode("ascii").splitlines() == [
        "bus-07 [ * green . ] accepted_in",
        "bus-07 [ * amber - ] duplicate",
        "bus-07 [ * red ... ] rejected",
    ]


def test_console_writes_to_stdout_by_default_with_a_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ConsoleIndicator(prefix="halte-3").show(Signal.ACCEPTED_OUT)
    assert capsys.readouterr().out == "halte-3 [ ● green ♪♪ ] accepted_out\n"


def test_console_show_does_not_sit_out_the_pattern() -> None:
    indicator = ConsoleIndicator(io.StringIO())
    started = time.monotonic()
    for signal in Signal:
        indicator.show(signal)
    assert time.monotonic() - started < 0.1


def test_console_refuses_to_show_after_close() -> None:
    indicator = ConsoleIndicator(io.StringIO())
    indicator.close()
    with pytest.raises(IndicatorError):
        indicator.show(Signal.READY)


def test_describe_summarises_any_pattern() -> None:
    silent_red = (Step(green=False, red=True, buzzer=False, seconds=1.0),)
    assert describe(silent_red) == "[ ● red ]"


# --- RecordingIndicator --------------------------------------------------------------------


def test_recording_keeps_signals_in_order_with_times() -> None:
    indicator = RecordingIndicator()
    assert indicator.name == "recording"
    before = time.monotonic_ns()
    indicator.show(Signal.ACCEPTED_IN)
    indicator.show(Signal.DUPLICATE)
    after = time.monotonic_ns()
    assert indicator.signals == [Signal.ACCEPTED_IN, Signal.DUPLICATE]
    times = [at for at, _ in indicator.shown]
    assert before <= times[0] <= times[1] <= after
    indicator.close()
    assert indicator.closed
    with pytest.raises(IndicatorError):
        indicator.show(Signal.READY)


def test_recording_wait_for_times_out_and_wakes_up() -> None:
    indicator = RecordingIndicator()
    assert not indicator.wait_for(1, timeout=0.02)
    timer = threading.Timer(0.02, indicator.show, args=(Signal.REJECTED,))
    timer.start()
    try:
        assert indicator.wait_for(1, timeout=2)
    finally:
        timer.join()
    assert indicator.signals == [Signal.REJECTED]


def test_recording_is_thread_safe() -> None:
    indicator = RecordingIndicator()
    per_thread = 300

    def scan_loop(signal: Signal) -> None:
        for _ in range(per_thread):
            indicator.show(signal)

    threads = [threading.Thread(target=scan_loop, args=(signal,)) for signal in Signal]
    for thread in threads:
        thread.start()
    assert indicator.wait_for(per_thread * len(Signal), timeout=5)
    for thread in threads:
        thread.join()
    shown = indicator.shown
    assert len(shown) == per_thread * len(Signal)
    assert [at for at, _ in shown] == sorted(at for at, _ in shown)
    for signal in Signal:
        assert indicator.signals.count(signal) == per_thread
