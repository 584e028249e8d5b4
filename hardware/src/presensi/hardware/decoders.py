"""Choose a QR decoder backend by its explicit name."""

from __future__ import annotations

from presensi.hardware.decoder import Decoder
from presensi.hardware.errors import BackendNotFound

BACKENDS = ("zxing", "zbar")


def open_decoder(name: str) -> Decoder:
    if name == "zxing":
        from presensi.hardware.decoder_zxing import ZxingDecoder

        return ZxingDecoder()
    if name == "zbar":
        from presensi.hardware.decoder_zbar import ZbarDecoder

        return ZbarDecoder()
    raise BackendNotFound(f"unknown decoder {name!r}: choose one of {', '.join(BACKENDS)}")
