"""QR decoding with zbar through pyzbar (zbar ships on every Raspberry Pi OS image).

Needs the system library: `apt-get install libzbar0`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from presensi.hardware.errors import DecoderError
from presensi.hardware.frame_input import gray_frame

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame


class ZbarDecoder:
    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar
        except ImportError as exc:  # pyzbar raises ImportError when libzbar0 is missing too
            raise DecoderError(
                f"zbar is not available ({exc}). Fix: apt-get install libzbar0 and "
                "pip install 'presensi[zbar]'"
            ) from exc
        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def decode(self, frame: Frame) -> list[str]:
        """Texts of the QR codes in the frame. Raises FrameError for what is not an image."""
        img = gray_frame(frame)
        if img is None:
            return []
        height, width = img.shape
        found = self._pyzbar.decode((img.tobytes(), width, height), symbols=self._symbols)
        # zbar returns bytes; badge tokens are ASCII, anything else is kept visibly wrong
        return [s.data.decode("utf-8", errors="replace") for s in found]
