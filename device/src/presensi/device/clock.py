"""The station's time: the one seam through which the scan loop reads the clocks, and what the
station makes of them (a Pi has no RTC, may boot offline, and its clock may be stepped).

"Synced" is first the kernel's own view: adjtimex() reports STA_UNSYNC until an NTP client
(timesyncd, chrony) has disciplined the clock; that is what `timedatectl`'s NTPSynchronized
shows too. StationClock then watches the wall clock against the monotonic one. Within a boot
their difference (the offset) only drifts slowly; a jump of more than STEP_TOLERANCE_MS while
the clock stays "synced" is a step nobody explained (`date -s`, a bad time source), so:

- the record keeps what the wall clock said (wall_ms), marked not synced, with the boot id and
  the monotonic time, so the hub can correct it from the boot's synced records;
- the station's own decisions (badge expiry, the duplicate window, the day for in/out) use its
  trusted time: the monotonic clock plus the last offset it trusted, never going back before the
  newest synced scan in its journal (a floor that also catches a reboot with the clock days
  behind).

A step while the clock was not synced, followed by a synced reading, is NTP setting the clock:
the new offset is trusted from then on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

STEP_TOLERANCE_MS = 2_000

_STA_UNSYNC = 0x0040
_TIME_ERROR = 5
_SYNC_STAMPS = (
    Path("/var/lib/systemd/timesync/clock"),  # touched by systemd-timesyncd at each sync
    Path("/var/lib/chrony/chrony.drift"),
)


@dataclass(frozen=True)
class ClockState:
    synced: bool
    last_sync_ms: int | None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: only `modes` (in) and `status` (out) are read here;
    # the rest is padding large enough for every Linux ABI.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("_pad0", ctypes.c_long * 5),
        ("status", ctypes.c_int),
        ("_pad1", ctypes.c_long * 40),
    ]


def _kernel_synced() -> bool:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    tx = _Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    return state not in (-1, _TIME_ERROR) and not tx.status & _STA_UNSYNC


def _last_sync_ms() -> int | None:
    times = [p.stat().st_mtime for p in _SYNC_STAMPS if p.exists()]
    return int(max(times) * 1000) if times else None


class Clock:
    """Reads the clock state at most once every `cache_s` seconds (it changes rarely)."""

    def __init__(self, source: str = "kernel", cache_s: float = 10.0) -> None:
        self.source = source
        self.cache_s = cache_s
        self._state = ClockState(False, None)
        self._read_at = -float("inf")

    def state(self) -> ClockState:
        if self.source == "synced":
            return ClockState(True, None)
        if self.source == "unsynced":
            return ClockState(False, None)
        now = time.monotonic()
        if now - self._read_at >= self.cache_s:
            self._state = ClockState(_kernel_synced(), _last_sync_ms())
            self._read_at = now
        return self._state


class TimeSource(Protocol):
    """Where the station reads time: the system (SystemTime), or a test's fake."""

    def wall_ns(self) -> int: ...
    def mono_ns(self) -> int: ...
    def state(self) -> ClockState: ...


class SystemTime:
    """The system's clocks, and the kernel's (or a configured) sync state."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def wall_ns(self) -> int:
        return time.time_ns()

    def mono_ns(self) -> int:
        return time.monotonic_ns()

    def state(self) -> ClockState:
        return self.clock.state()


@dataclass(frozen=True)
class Now:
    """One reading of the station's time, as a scan record and the decider use it."""

    wall_ms: int  # what the wall clock said (recorded)
    mono_ns: int
    clock: ClockState  # recorded: synced only when the kernel says so and no step is unexplained
    trusted_ms: int  # the station's best estimate of the time, for its own decisions
    step_ms: int  # wall clock minus trusted time while a step is unexplained, else 0


class StationClock:
    """Reads a TimeSource and keeps the offset it trusts (see the module's docstring).
    Not thread-safe: the scan loop calls it under its lock."""

    def __init__(self, source: TimeSource, *, floor_ms: int | None = None) -> None:
        self.source = source
        self.floor_ms = floor_ms
        self.steps = 0  # unexplained steps seen (telemetry)
        self._anchor_ms: int | None = None  # trusted wall minus monotonic, in ms
        self._was_synced = False
        self._stepped = False

    @property
    def stepped(self) -> bool:
        """A step of the wall clock is unexplained as of the last reading."""
        return self._stepped

    def now(self) -> Now:
        wall_ms = self.source.wall_ns() // 1_000_000
        mono_ns = self.source.mono_ns()
        kernel = self.source.state()
        mono_ms = mono_ns // 1_000_000
        offset = wall_ms - mono_ms
        step = 0
        trusted = wall_ms
        synced = kernel.synced
        behind_floor = self.floor_ms is not None and wall_ms < self.floor_ms - STEP_TOLERANCE_MS
        if kernel.synced and self._anchor_ms is None and not behind_floor:
            self._anchor_ms = offset  # the first synced reading of this boot
        elif kernel.synced and self._anchor_ms is not None:
            if abs(offset - self._anchor_ms) <= STEP_TOLERANCE_MS:
                self._anchor_ms = offset  # slow drift, or a slew: follow it
            elif not self._was_synced:
                self._anchor_ms = offset  # NTP set the clock after an unsynced spell: trust it
            else:
                step = offset - self._anchor_ms  # stepped while synced: nobody explained it
        if kernel.synced and behind_floor and self._anchor_ms is None:
            step = wall_ms - (self.floor_ms or wall_ms)
        if self._anchor_ms is not None:
            trusted = mono_ms + self._anchor_ms
            if not kernel.synced:
                step = (
                    offset - self._anchor_ms
                    if abs(offset - self._anchor_ms) > STEP_TOLERANCE_MS
                    else 0
                )
        if self.floor_ms is not None:
            trusted = max(trusted, self.floor_ms)
        if step:
            synced = False
            if not self._stepped:
                self.steps += 1
                log.warning(
                    "the wall clock differs from the station's trusted time by %+.0f s: "
                    "scans are recorded as not synced until it agrees again",
                    step / 1000,
                )
        elif self._stepped:
            log.warning("the wall clock agrees with the station's trusted time again")
        self._stepped = bool(step)
        self._was_synced = kernel.synced
        return Now(wall_ms, mono_ns, ClockState(synced, kernel.last_sync_ms), trusted, step)
