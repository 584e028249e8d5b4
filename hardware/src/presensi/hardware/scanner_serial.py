"""A QR scanner module on a serial port (UART or USB-CDC "virtual COM").

Modules such as the GM65, GM861 or the Waveshare barcode scanner decode the QR code themselves and
send the text, one code per scan, as a line ended by CR, LF or CRLF (configurable on the module),
usually at 9600 or 115200 baud. Some can be configured to send no terminator at all; for those an
*idle gap* ends a code: when no byte has arrived for ``idle_gap`` seconds, whatever was received
so far is one code.

Bad input never crashes the reader and never merges two codes into one:

* bytes that are not valid in the encoding become U+FFFD (the badge verifier rejects such text);
* a line longer than ``max_length`` bytes is discarded up to its terminator (or idle gap) and
  counted once in :attr:`SerialScanner.dropped`, with a logged warning;
* NUL and the other control characters are removed (see ``_CONTROL_CHARS``).

A port that goes away (USB cable pulled) raises :class:`ScannerError`; the port is then closed and
the caller may :meth:`SerialScanner.open` it again later to reconnect.

pyserial is imported only when the port is opened (presensi.hardware.serial_port), so this module
imports without it.
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from collections import deque
from types import TracebackType
from typing import NoReturn, Protocol, Self

from presensi.hardware.errors import ScannerError, SerialPortError
from presensi.hardware.serial_port import open_serial_port

logger = logging.getLogger(__name__)

_TERMINATOR = re.compile(rb"[\r\n]")

# Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) are deleted from every
# code rather than kept or used to reject the line. They are never part of a printable badge, but
# real modules do emit them around the text: NUL padding or noise at power-up, STX/ETX framing,
# a TAB or ESC suffix left over from a keyboard-wedge configuration. Keeping them would let a NUL
# or an ESC sequence reach the journal, the logs and the operator's terminal; rejecting the whole
# line would throw away a good scan over framing bytes. Deleting them is safe because every
# badge is signed: if the control bytes were really part of the code, the stripped text fails
# verification and is rejected, so stripping can never turn one badge into another valid one.
_CONTROL_CHARS: dict[int, None] = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


class _Port(Protocol):
    """The part of ``serial.Serial`` this backend uses."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


class SerialScanner:
    """Read decoded QR codes, one per line, from a scanner module on a serial port.

    ``port`` is a device path; prefer the stable ``/dev/serial/by-id/...`` link over
    ``/dev/ttyACM0``, whose number can change when the cable is replugged. ``max_length`` is the
    longest line kept, in bytes. ``idle_gap`` (seconds) ends a code when no byte arrives for that
    long and no terminator came; None disables it, so only CR/LF end a code. ``encoding`` must be
    ASCII-compatible (utf-8, latin-1, cp1252, shift_jis, ...): lines are split on the CR and LF
    bytes before decoding.

    Not thread-safe: one reader calls :meth:`read_code` in a loop.
    """

    name = "serial"

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        *,
        max_length: int = 4096,
        idle_gap: float | None = 0.05,
        encoding: str = "utf-8",
    ) -> None:
        if baudrate <= 0:
            raise ValueError(f"baudrate must be positive, not {baudrate}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, not {max_length}")
        if idle_gap is not None and idle_gap <= 0:
            raise ValueError(f"idle_gap must be positive seconds or None, not {idle_gap}")
        self._port_name = port
        self._baudrate = baudrate
        self._max_length = max_length
        self._idle_gap = idle_gap
        self._encoding = _ascii_compatible(encoding)
        self._serial: _Port | None = None
        self._dropped = 0
        self._ready: deque[str] = deque()
        self._line = bytearray()
        self._overflow = False  # discarding the rest of an overlong line
        self._last_rx = 0.0  # time.monotonic() when the last byte was received

    @property
    def port(self) -> str:
        return self._port_name

    @property
    def baudrate(self) -> int:
        return self._baudrate

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    @property
    def dropped(self) -> int:
        """How many lines were discarded for being longer than ``max_length`` (since creation)."""
        return self._dropped

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"SerialScanner({self._port_name!r}, {self._baudrate}, {state})"

    # -- opening and closing ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the port, closing it first if it was open; raises ScannerError if it cannot be."""
        self.close()
        try:
            # timeout=0: read_code sets it for each wait
            port: _Port = open_serial_port(self._port_name, self._baudrate, what="serial scanner")
        except SerialPortError as exc:
            raise ScannerError(str(exc)) from exc
        self._serial = port

    def close(self) -> None:
        """Close the port and forget any partial code; closing a closed scanner does nothing."""
        port, self._serial = self._serial, None
        self._ready.clear()
        self._line.clear()
        self._overflow = False
        if port is not None:
            try:
                port.close()
            except OSError as exc:  # an unplugged device may fail even this
                logger.debug("closing serial scanner %s: %s", self._port_name, exc)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    def read_code(self, timeout: float) -> str | None:
        """The next complete code, or None if none completed within ``timeout`` seconds.

        The terminator is stripped and empty lines are skipped. A partial code stays buffered
        for the next call. Raises ScannerError if the port is not open or has gone away; the
        port is then closed and :meth:`open` may be called again.
        """
        port = self._serial
        if port is None:
            raise ScannerError(f"serial scanner {self._port_name} is not open")
        deadline = time.monotonic() + max(timeout, 0.0)
        first = True
        while True:
            if self._ready:
                return self._ready.popleft()
            now = time.monotonic()
            # Always look at least once, so that read_code(0) polls.
            if not first and now >= deadline:
                return None
            first = False
            wait = max(deadline - now, 0.0)
            if self._idle_gap is not None and self._line_in_progress:
                wait = min(wait, max(self._last_rx + self._idle_gap - now, 0.0))
            data = self._receive(port, wait)
            now = time.monotonic()
            if data:
                self._last_rx = now
                self._feed(data)
            elif (
                self._idle_gap is not None
                and self._line_in_progress
                and now - self._last_rx >= self._idle_gap
            ):
                # Only after _receive found nothing buffered: bytes that arrived while nobody
                # was reading belong to the code in progress, not to a new one.
                self._end_line()

    @property
    def _line_in_progress(self) -> bool:
        return self._overflow or bool(self._line)

    def _receive(self, port: _Port, wait: float) -> bytes:
        """What is buffered already, or else wait up to ``wait`` seconds for at least one byte."""
        try:
            waiting = port.in_waiting
            if waiting:
                return bytes(port.read(waiting))
            if wait <= 0:
                return b""
            port.timeout = wait
            data = bytes(port.read(1))
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += bytes(port.read(waiting))
        except OSError as exc:
            # pyserial: SerialException (an OSError) from read and from setting the timeout,
            # a bare OSError (EIO) from in_waiting, once the device is gone.
            self._fail(exc)
        return data

    def _fail(self, exc: OSError) -> NoReturn:
        self.close()
        raise ScannerError(
            f"serial scanner {self._port_name} went away (unplugged?): {exc}"
        ) from exc

    def _feed(self, data: bytes) -> None:
        *ended, rest = _TERMINATOR.split(data)
        for part in ended:
            self._append(part)
            self._end_line()
        self._append(rest)

    def _append(self, part: bytes) -> None:
        if self._overflow or not part:
            return
        if len(self._line) + len(part) > self._max_length:
            self._drop()
            return
        self._line += part

    def _drop(self) -> None:
        self._overflow = True
        self._line.clear()
        self._dropped += 1
        logger.warning(
            "serial scanner %s: discarded a line longer than %d bytes (%d discarded so far)",
            self._port_name,
            self._max_length,
            self._dropped,
        )

    def _end_line(self) -> None:
        if self._overflow:  # already counted when it overflowed
            self._overflow = False
            return
        if not self._line:
            return  # an empty line, or the LF of a CRLF
        text = bytes(self._line).decode(self._encoding, errors="replace")
        self._line.clear()
        text = text.translate(_CONTROL_CHARS)
        if len(text) > self._max_length:  # no ASCII-compatible codec does this; stay safe anyway
            self._drop()
            self._overflow = False
        elif text:
            self._ready.append(text)


def _ascii_compatible(encoding: str) -> str:
    """The codec's canonical name; ValueError unless CR, LF and ASCII text encode as in ASCII."""
    try:
        name = codecs.lookup(encoding).name
        probe = "\r\n 09AZaz-_"
        compatible = probe.encode(name) == probe.encode("ascii")
    except (LookupError, UnicodeError) as exc:
        raise ValueError(f"unusable encoding {encoding!r}: {exc}") from exc
    if not compatible:
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible; lines could not be split")
    return name
