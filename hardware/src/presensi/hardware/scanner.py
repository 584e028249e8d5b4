"""The code scanner interface: a module that decodes QR codes itself and sends their texts
(the UART/USB scanner modules). Unlike a camera, it hands over finished texts."""

from __future__ import annotations

from typing import Protocol


class CodeScanner(Protocol):
    name: str

    def open(self) -> None: ...

    def read_code(self, timeout: float) -> str | None:
        """The next complete code, or None if none arrived within `timeout` seconds.
        Raises ScannerError when the device went away (the station reopens it later)."""
        ...

    def close(self) -> None: ...
