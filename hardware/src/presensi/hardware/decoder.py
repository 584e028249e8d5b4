"""The decoder interface: a frame in, the texts of the QR codes found in it out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from presensi.hardware.camera import Frame


class Decoder(Protocol):
    name: str

    def decode(self, frame: Frame) -> list[str]:
        """Texts of the QR codes in the frame (empty if none). Never raises on image content;
        raises FrameError (a DecoderError) for what is not an image (`frame_input`)."""
        ...
