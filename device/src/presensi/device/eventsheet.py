"""The event sheet the hub retains on the station's event topic (wire.EventSheet): kept in the
state folder, so a station restarted without network still knows its event.

From `opens_ms` to `ends_ms` (inclusive, by the station's trusted time) the station records its
scans for the sheet's event, whatever its configured mode; outside that window the sheet
changes nothing, so the station goes back to its mode by itself. The decider reads the sheet
per scan (one reference: a scan sees the old sheet or the new, never a mix).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

from presensi.device.files import write_atomically
from presensi.protocol import wire
from presensi.protocol.errors import ProtocolError

log = logging.getLogger(__name__)

SHEET_FILE = "event-sheet.json"

Phase = Literal["none", "upcoming", "open", "ended"]


def phase(sheet: wire.EventSheet | None, now_ms: int) -> Phase:
    """Where `now_ms` falls for `sheet`: before its window, in it, after it (or no sheet)."""
    if sheet is None:
        return "none"
    if now_ms < sheet.opens_ms:
        return "upcoming"
    return "open" if now_ms <= sheet.ends_ms else "ended"


def serving(sheet: wire.EventSheet | None, now_ms: int) -> str | None:
    """The event a scan at `now_ms` is for, by the sheet alone (None: the configured mode)."""
    return sheet.event if sheet is not None and phase(sheet, now_ms) == "open" else None


class SheetFile:
    """The sheet kept in the state folder; `current` is swapped as one reference."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: wire.EventSheet | None = None

    def load(self) -> wire.EventSheet | None:
        """The sheet kept by an earlier run, if any and readable (a bad file is logged, left
        alone and ignored: the retained sheet replaces it on the next connect)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("%s: cannot read the kept event sheet: %s", self.path, exc)
            return None
        try:
            self.current = wire.decode(data, wire.EventSheet)
        except ProtocolError as exc:
            log.error("%s: ignoring the kept event sheet: %s", self.path, exc)
            return None
        return self.current

    def keep(self, sheet: wire.EventSheet) -> bool:
        """Keep a sheet the hub sent unless an equal or newer version is kept already: written
        atomically first (an error leaves the old sheet in force), then swapped in."""
        current = self.current
        if current is not None and sheet.version <= current.version:
            return False
        write_atomically(self.path, wire.encode(sheet))
        self.current = sheet
        return True

    def withdraw(self) -> bool:
        """The hub withdrew the sheet (an empty retained message): forget it, on disk too."""
        if self.current is None and not self.path.exists():
            return False
        self.path.unlink(missing_ok=True)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the removal must reach the disk, as a write would
        finally:
            os.close(directory)
        self.current = None
        return True
