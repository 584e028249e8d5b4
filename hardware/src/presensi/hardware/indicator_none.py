"""The indicator of a station that signals nothing itself (``backend = "none"``): for a scan head
whose signals come from elsewhere, or a bench rig without LEDs. It shows nothing and says so
once in the log, so a station left without lights by mistake is visible there."""

from __future__ import annotations

import logging

from presensi.hardware.errors import IndicatorError
from presensi.hardware.indicator import Signal

logger = logging.getLogger(__name__)


class SilentIndicator:
    name = "none"

    def __init__(self) -> None:
        self._closed = False
        self.shown = 0
        logger.info("indicator backend 'none': this station shows no light and makes no sound")

    def show(self, signal: Signal) -> None:
        if self._closed:
            raise IndicatorError("the indicator is closed")
        self.shown += 1

    def close(self) -> None:
        self._closed = True
