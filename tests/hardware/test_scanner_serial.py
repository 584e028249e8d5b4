"""SerialScanner against the real pyserial, over a pseudo-terminal pair.

The test plays the scanner module: it writes bytes to the pty master; SerialScanner opens the
slave by its /dev/pts/N name like any serial port. The pty is deliberately NOT put in raw mode
here: a fresh pty starts cooked (ICANON, ECHO, ICRNL, ISIG, IXON), just like a real /dev/ttyACM0,
and it is SerialScanner's job (through pyserial) to make it raw. test_open_puts_the_port_in_raw_mode
checks exactly that.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import select
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presensi.hardware.errors import ScannerError
from presensi.hardware.scanner_serial import SerialScanner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pty behaviour checked on Linux")


class Pty:
    """A pseudo-terminal pair; the master side is the scanner module."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.unplugged = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def settle(self) -> None:
        """Wait until what was written can be read from the slave.

        A write to the master is not readable on the slave at once: the kernel moves it to the
        slave's line discipline from a work queue, a moment later.
        """
        ready, _, _ = select.select([self.slave], [], [], 1.0)
        assert ready, "the pty did not deliver the written bytes"

    def unplug(self) -> None:
        """Close the master: the slave is hung up and /dev/pts/N disappears, like a USB unplug."""
        if not self.unplugged:
            self.unplugged = True
            os.close(self.master)

    def echoed(self, wait: float = 0.05) -> bytes:
        """Whatever the slave's line discipline sent back to the module (echo)."""
        ready, _, _ = select.select([self.master], [], [], wait)
        return os.read(self.master, 4096) if ready else b""

    def close(self) -> None:
        self.unplug()
        os.close(self.slave)


@contextmanager
def pty_pair() -> Iterator[Pty]:
    pty = Pty()
    try:
        yield pty
    finally:
        pty.close()


@pytest.fixture
def pty() -> Iterator[Pty]:
    with pty_pair() as pair:
        yield pair


@pytest.fixture
def scanner(pty: Pty) -> Iterator[SerialScanner]:
    # pyserial flushes the input on open, so the scanner is opened before anything is written.
    with SerialScanner(pty.path, 115200) as s:
        yield s


def read_all(scanner: SerialScanner, timeout: float = 0.1) -> list[str]:
    """Every code until none completes within ``timeout``."""
    codes = []
    while (code := scanner.read_code(timeout)) is not None:
        codes.append(code)
    return codes


def write_later(pty: Pty, pieces: list[bytes], pause: float) -> threading.Thread:
    """Write the pieces from a thread, ``pause`` seconds apart, while the test reads."""

    def run() -> None:
        for piece in pieces:
            time.sleep(pause)
            pty.write(piece)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def later(delay: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()
    return timer


# -- the port ------------------------------------------------------------------------------------


def test_open_puts_the_port_in_raw_mode(pty: Pty) -> None:
    iflag, _, _, lflag, *_ = termios.tcgetattr(pty.slave)
    assert lflag & termios.ICANON and lflag & termios.ECHO and iflag & termios.ICRNL  # cooked
    with SerialScanner(pty.path) as scanner:
        iflag, _, _, lflag, *_ = termios.tcgetattr(pty.slave)
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)
        assert not iflag & (termios.ICRNL | termios.INLCR | termios.IGNCR | termios.IXON)
        # ^C ^D ^Z ^S ^Q would be signals, EOF or flow control in a cooked tty
        pty.write(b"A\x03B\x04C\x1aD\x13E\x11F\r")
        assert scanner.read_code(1.0) == "ABCDEF"
        assert pty.echoed() == b""  # nothing is echoed back to the module


def test_attributes(pty: Pty) -> None:
    scanner = SerialScanner(pty.path, 115200)
    assert scanner.name == "serial"
    assert (scanner.port, scanner.baudrate, scanner.dropped) == (pty.path, 115200, 0)
    states = [scanner.is_open, "closed" in repr(scanner)]
    with scanner:
        states += [scanner.is_open, "open" in repr(scanner)]
    states.append(scanner.is_open)
    assert states == [False, True, True, True, False]
    scanner.close()  # closing twice is fine


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baudrate": 0},
        {"max_length": 0},
        {"idle_gap": 0},
        {"idle_gap": -1.0},
        {"encoding": "utf-16"},
        {"encoding": "no-such-codec"},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SerialScanner("/dev/ttyACM0", **kwargs)  # type: ignore[arg-type]


def test_opening_a_missing_port_names_it_and_suggests_where_to_look(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyACM9")
    scanner = SerialScanner(missing)
    with pytest.raises(ScannerError) as caught:
        scanner.open()
    message = str(caught.value)
    assert missing in message
    assert "cable" in message
    assert "ls /dev/serial/by-id" in message
    assert isinstance(caught.value, OSError)
    assert not scanner.is_open


def test_opening_something_that_is_not_a_tty(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")
    with pytest.raises(ScannerError, match="not-a-tty"):
        SerialScanner(str(plain)).open()


def test_a_port_is_opened_exclusively(pty: Pty, scanner: SerialScanner) -> None:
    with pytest.raises(ScannerError, match="in use"):
        SerialScanner(pty.path).open()


def test_reading_a_closed_scanner(pty: Pty) -> None:
    with pytest.raises(ScannerError, match="not open"):
        SerialScanner(pty.path).read_code(0.0)


def test_module_imports_without_pyserial(monkeypatch: pytest.MonkeyPatch, pty: Pty) -> None:
    import presensi.hardware

    monkeypatch.setitem(sys.modules, "serial", None)  # makes `import serial` fail
    monkeypatch.setattr(presensi.hardware, "scanner_serial", sys.modules[SerialScanner.__module__])
    monkeypatch.delitem(sys.modules, "presensi.hardware.scanner_serial")
    module = importlib.import_module("presensi.hardware.scanner_serial")
    with pytest.raises(ScannerError, match="pyserial"):
        module.SerialScanner(pty.path).open()


# -- terminators and framing ---------------------------------------------------------------------


@pytest.mark.parametrize("terminator", [b"\r\n", b"\n", b"\r"], ids=["CRLF", "LF", "CR"])
def test_terminators(pty: Pty, scanner: SerialScanner, terminator: bytes) -> None:
    pty.write(b"BADGE-1" + terminator)
    assert scanner.read_code(1.0) == "BADGE-1"
    pty.write(b"BADGE-2" + terminator)
    assert scanner.read_code(1.0) == "BADGE-2"
    assert scanner.read_code(0.1) is None  # no empty code from the LF of a CRLF


def test_several_codes_in_one_write(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"A1\r\nB2\nC3\rD4\r\n\r\n\n\rE5\n")
    assert read_all(scanner) == ["A1", "B2", "C3", "D4", "E5"]


def test_one_code_split_across_writes_with_pauses(pty: Pty) -> None:
    with SerialScanner(pty.path, idle_gap=0.3) as scanner:
        code = "ÄÖ-badge-payload"  # split inside the two-byte UTF-8 characters too
        data = code.encode() + b"\r\n"
        writer = write_later(pty, [data[i : i + 1] for i in range(len(data))], pause=0.01)
        assert scanner.read_code(3.0) == code
        writer.join()
        assert scanner.read_code(0.1) is None


def test_without_idle_gap_a_long_pause_does_not_split(pty: Pty) -> None:
    with SerialScanner(pty.path, idle_gap=None) as scanner:
        writer = write_later(pty, [b"ABC", b"DEF\n"], pause=0.15)
        assert scanner.read_code(2.0) == "ABCDEF"
        writer.join()


def test_the_timeout_waits_for_a_code_still_arriving(pty: Pty, scanner: SerialScanner) -> None:
    writer = write_later(pty, [b"LATE\n"], pause=0.2)
    assert scanner.read_code(2.0) == "LATE"
    writer.join()


# -- the idle gap --------------------------------------------------------------------------------


def test_idle_gap_ends_a_code_without_terminator(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"NO-TERMINATOR")
    start = time.monotonic()
    assert scanner.read_code(2.0) == "NO-TERMINATOR"
    assert time.monotonic() - start < 1.0  # the idle gap, not the timeout, ended it
    assert scanner.read_code(0.1) is None


def test_idle_gap_separates_codes_sent_without_terminator(pty: Pty, scanner: SerialScanner) -> None:
    writer = write_later(pty, [b"FIRST", b"SECOND"], pause=0.2)
    assert scanner.read_code(2.0) == "FIRST"
    assert scanner.read_code(2.0) == "SECOND"
    writer.join()


def test_idle_gap_carries_over_between_calls(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"PARTIAL")
    pty.settle()
    assert scanner.read_code(0.0) is None  # just arrived: it might go on
    time.sleep(0.1)
    assert scanner.read_code(0.0) == "PARTIAL"  # a poll ends it once the gap has passed


def test_a_slow_caller_does_not_split_a_code(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"ABC")
    pty.settle()
    assert scanner.read_code(0.02) is None  # reads ABC; shorter than the 50 ms idle gap
    # The rest arrives while nobody is reading; by the next call the idle gap has long passed,
    # but the bytes waiting in the port belong to the same code.
    pty.write(b"DEF\r\n")
    time.sleep(0.2)
    assert scanner.read_code(1.0) == "ABCDEF"


# -- bad input -----------------------------------------------------------------------------------


def test_invalid_utf8_is_replaced(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"AB\xff\xfeCD\r\nX\xe2\x82\nOK\n")
    assert read_all(scanner) == ["AB\ufffd\ufffdCD", "X\ufffd", "OK"]


def test_other_encoding(pty: Pty) -> None:
    with SerialScanner(pty.path, encoding="latin-1") as scanner:
        pty.write(b"caf\xe9\n")
        assert scanner.read_code(1.0) == "café"


def test_nul_and_control_characters_are_removed(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"\x00\x00\x02AB\x00C\x1b[31mD\t\x7f\x03\r\n\x00\x00\x00\r\n\xc2\x85E\n")
    # a line of nothing but NULs is empty and skipped; U+0085 (NEL, a C1 control) goes too
    assert read_all(scanner) == ["ABC[31mD", "E"]


def test_a_10kb_line_is_dropped_and_the_next_code_read(
    pty: Pty, scanner: SerialScanner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="presensi.hardware.scanner_serial"):
        pty.write(b"x" * 10240 + b"\r\nNEXT\r\n")
        assert scanner.read_code(2.0) == "NEXT"
    assert scanner.dropped == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # reported once, not once per chunk
    assert pty.path in warnings[0].getMessage()
    assert scanner.read_code(0.1) is None


def test_max_length_boundary(pty: Pty) -> None:
    with SerialScanner(pty.path, max_length=8) as scanner:
        pty.write(b"12345678\n123456789\nAFTER\n")
        assert read_all(scanner) == ["12345678", "AFTER"]
        assert scanner.dropped == 1


def test_an_overlong_line_without_terminator_ends_at_the_idle_gap(pty: Pty) -> None:
    with SerialScanner(pty.path, max_length=8) as scanner:
        writer = write_later(pty, [b"0123456789ABCDEF", b"GOOD\n"], pause=0.2)
        assert scanner.read_code(2.0) == "GOOD"
        assert scanner.dropped == 1
        writer.join()


# -- timeouts ------------------------------------------------------------------------------------


def test_timeout_returns_none(scanner: SerialScanner) -> None:
    start = time.monotonic()
    assert scanner.read_code(0.2) is None
    assert 0.19 <= time.monotonic() - start < 0.6
    start = time.monotonic()
    assert scanner.read_code(0.0) is None
    assert scanner.read_code(-1.0) is None
    assert time.monotonic() - start < 0.05


def test_a_stream_without_end_still_honours_the_timeout(pty: Pty) -> None:
    with SerialScanner(pty.path, idle_gap=None, max_length=64) as scanner:
        stop = threading.Event()

        def babble() -> None:
            give_up = time.monotonic() + 1.5  # so that a reader that never returns fails, not hangs
            while not stop.is_set() and time.monotonic() < give_up:
                pty.write(b"z" * 32)
                time.sleep(0.005)

        thread = threading.Thread(target=babble, daemon=True)
        thread.start()
        try:
            start = time.monotonic()
            assert scanner.read_code(0.3) is None
            assert time.monotonic() - start < 0.8
        finally:
            stop.set()
            thread.join()
        assert scanner.dropped == 1


# -- unplugging and reconnecting -----------------------------------------------------------------


def test_unplugging_raises_scanner_error_naming_the_port(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"LOST-IN-FLIGHT")
    pty.unplug()
    # Linux hangs up the slave: pending input is flushed, TIOCINQ fails with EIO and read()
    # returns EOF, which pyserial reports as "readiness to read but returned no data".
    with pytest.raises(ScannerError) as caught:
        scanner.read_code(1.0)
    assert pty.path in str(caught.value)
    assert not scanner.is_open
    assert not Path(pty.path).exists()  # the device node is gone, as after a USB unplug
    with pytest.raises(ScannerError, match="not open"):
        scanner.read_code(0.0)


def test_unplugging_while_waiting(pty: Pty, scanner: SerialScanner) -> None:
    later(0.1, pty.unplug)
    start = time.monotonic()
    with pytest.raises(ScannerError, match="went away"):
        scanner.read_code(3.0)
    assert time.monotonic() - start < 1.0


def test_reopen_after_unplug(tmp_path: Path) -> None:
    # A stable name, like /dev/serial/by-id/usb-..., whose target changes on replug.
    link = tmp_path / "usb-scanner"
    with pty_pair() as first:
        link.symlink_to(first.path)
        scanner = SerialScanner(str(link))
        scanner.open()
        first.write(b"BEFORE\r\n")
        assert scanner.read_code(1.0) == "BEFORE"
        first.unplug()
        with pytest.raises(ScannerError, match="usb-scanner"):
            scanner.read_code(1.0)
    with pytest.raises(ScannerError, match="ls /dev/serial/by-id"):  # still unplugged
        scanner.open()
    link.unlink()
    with pty_pair() as second:
        link.symlink_to(second.path)
        scanner.open()
        try:
            second.write(b"AFTER\r\n")
            assert scanner.read_code(1.0) == "AFTER"
        finally:
            scanner.close()


def test_open_again_while_open_starts_afresh(pty: Pty, scanner: SerialScanner) -> None:
    pty.write(b"HALF")
    pty.settle()
    assert scanner.read_code(0.0) is None
    scanner.open()  # reopening closes the old handle and forgets the partial code
    pty.write(b"WHOLE\n")
    assert scanner.read_code(1.0) == "WHOLE"


# -- properties ----------------------------------------------------------------------------------

MAX_LENGTH = 16
NO_HEALTH_CHECKS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@NO_HEALTH_CHECKS
@given(chunks=st.lists(st.binary(max_size=200), max_size=6))
def test_arbitrary_bytes_never_break_the_reader(chunks: list[bytes]) -> None:
    with pty_pair() as pty, SerialScanner(pty.path, max_length=MAX_LENGTH, idle_gap=0.005) as s:
        for chunk in chunks:
            pty.write(chunk)
        for _ in range(100):
            code = s.read_code(0.02)
            if code is None:
                break
            assert isinstance(code, str)
            assert code
            assert "\r" not in code and "\n" not in code
            assert len(code) <= MAX_LENGTH
            assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in code)
        else:
            pytest.fail("more codes than the bytes written could hold")


codes_strategy = st.lists(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40),
    max_size=8,
)


@NO_HEALTH_CHECKS
@given(
    codes=codes_strategy,
    terminators=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n"]), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_codes_come_out_exactly_as_sent(
    codes: list[str], terminators: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(code.encode() + term for code, term in zip(codes, terminators, strict=False))
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    with pty_pair() as pty, SerialScanner(pty.path, idle_gap=None) as scanner:
        for start, end in itertools.pairwise(bounds):
            pty.write(data[start:end])
        received = [scanner.read_code(1.0) for _ in codes]
        assert received == codes
        assert scanner.read_code(0.0) is None
