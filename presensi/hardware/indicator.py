"""The indicator interface: show a named signal with the green LED, the red LED and the buzzer."""

from __future__ import annotations

import enum
from typing import Protocol


class Signal(enum.StrEnum):
    READY = "ready"
    ACCEPTED_IN = "accepted_in"
    ACCEPTED_OUT = "accepted_out"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAULT = "fault"


class Indicator(Protocol):
    name: str

    def show(self, signal: Signal) -> None:
        """Start showing `signal` and return once its first step is on the pins.

        The rest of the pattern plays in the background; a new signal cuts the old one short.
        """
        ...

    def close(self) -> None: ...
