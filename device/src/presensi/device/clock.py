"""The station's clock state, recorded with every scan (a Pi has no RTC and may boot offline).

"Synced" is the kernel's own view: adjtimex() reports STA_UNSYNC until an NTP client (timesyncd,
chrony) has disciplined the clock; that is what `timedatectl`'s NTPSynchronized shows too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass
from pathlib import Path

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
