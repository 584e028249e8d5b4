"""The serial QR module (GM65, GM861 class) on a UART: bytes in, one scanned code per line.

The module decodes the QR code itself and sends its text ended by CR, LF or CRLF, or (configured
without a suffix) as one burst: an idle gap of IDLE_MS then ends the code. The same rules as the
Pi station's serial scanner (presensi.hardware.scanner_serial):

- control bytes (0x00-0x1F, 0x7F: power-up noise, STX/ETX framing) are deleted; a signed badge
  cannot become another valid badge by losing them;
- a line longer than MAX_LINE bytes is discarded up to its end and counted in `overlong`;
- a line that is empty once the control bytes are gone is dropped and counted in `noise`;
- bytes that are not UTF-8 still make a scan (the verifier says not_a_badge).
"""

MAX_LINE = 512  # a badge is at most 197 characters; the UART's rx buffer holds 1024 bytes
IDLE_MS = 120  # at 9600 baud a byte takes about 1 ms: a 120 ms silence ends a burst

TYPE_CHECKING = False
if TYPE_CHECKING:
    from machine import UART

    from halte.clock import Ticks


class Scanner:
    def __init__(self, uart: UART, ticks: Ticks) -> None:
        self._uart = uart
        self._ticks = ticks
        self._line = bytearray()
        self._overflow = False
        self._stripped = False  # control bytes were deleted from this line
        self._last_rx = 0
        self._ready: list[bytes] = []
        self.overlong = 0
        self.noise = 0
        self.idle_ended = 0

    def poll(self) -> bytes | None:
        """The next complete code, or None. Never blocks, never raises on bad bytes."""
        uart = self._uart
        waiting = uart.any()
        now = self._ticks.ms()
        if waiting:
            data = uart.read(waiting)
            if data:
                self._feed(data)
                self._last_rx = now
        elif (self._line or self._overflow or self._stripped) and now - self._last_rx >= IDLE_MS:
            self.idle_ended += 1
            self._end_line()
        return self._ready.pop(0) if self._ready else None

    def _feed(self, data: bytes) -> None:
        for byte in data:
            if byte in (10, 13):
                self._end_line()
            elif byte < 0x20 or byte == 0x7F:
                self._stripped = True
            elif self._overflow:
                continue
            elif len(self._line) >= MAX_LINE:
                self._overflow = True
                self._line = bytearray()
            else:
                self._line.append(byte)

    def _end_line(self) -> None:
        if self._overflow:
            self.overlong += 1
        elif self._line:
            self._ready.append(bytes(self._line))
        elif self._stripped:
            self.noise += 1
        self._overflow = False
        self._stripped = False
        self._line = bytearray()
