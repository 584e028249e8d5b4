"""Time on a board without an RTC battery: honest about what it knows.

- `Ticks`: milliseconds since boot that never wrap (time.ticks_ms() wraps after 2**30 ms, about
  12 days; Ticks extends it as long as it is read at least once a week: the main loop reads it
  every few milliseconds).
- `Clock`: the wall clock. It counts as synced only after NTP set it during this boot; until
  then records say clock_synced false and keep mono_ns (ms since boot) and boot_id (random per
  boot), from which the hub corrects their time once the same boot has a synced record. The
  station's own decisions (expiry, the duplicate window) use the trusted time: never before
  the newest synced record in the journal (a floor after a reboot with the RTC reset to 2021).
"""

import time
from binascii import hexlify

from halte.ids import random_bytes

# the board's RTC counts from 1970 (rp2 since MicroPython 1.22) or from 2000 (older ports)
EPOCH_OFFSET_S = 0 if time.gmtime(0)[0] == 1970 else 946_684_800
SYNC_AGAIN_MS = 6 * 3600 * 1000


class Ticks:
    """Monotonic milliseconds since boot, 64 bits wide (in software)."""

    def __init__(self) -> None:
        self._last = time.ticks_ms()
        self._total = 0

    def ms(self) -> int:
        now = time.ticks_ms()
        self._total += time.ticks_diff(now, self._last)
        self._last = now
        return self._total


def new_boot_id() -> str:
    """A random id for this boot, in the form of the Pi's kernel boot id (a UUID)."""
    raw = hexlify(random_bytes(16)).decode()
    return "-".join((raw[:8], raw[8:12], "4" + raw[13:16], raw[16:20], raw[20:]))


class Clock:
    def __init__(self, ticks: Ticks, floor_ms: int | None = None) -> None:
        self.ticks = ticks
        self.boot_id = new_boot_id()
        self.floor_ms = floor_ms  # the newest synced wall time in the journal
        self.synced = False
        self.last_sync_ms: int | None = None
        self._synced_at_tick = 0
        self.sync_failures = 0

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000 + EPOCH_OFFSET_S * 1000

    def trusted_ms(self) -> int:
        """The time the station decides by: the wall clock, but never before the floor."""
        wall = self.wall_ms()
        if self.floor_ms is not None and wall < self.floor_ms:
            return self.floor_ms
        return wall

    def mono_ns(self) -> int:
        return self.ticks.ms() * 1_000_000

    def needs_sync(self) -> bool:
        return not self.synced or self.ticks.ms() - self._synced_at_tick > SYNC_AGAIN_MS

    def synced_now(self) -> None:
        """NTP has just set the RTC (halte.network calls ntptime.settime() first)."""
        self.synced = True
        self.last_sync_ms = self.wall_ms()
        self._synced_at_tick = self.ticks.ms()

    def state(self) -> dict[str, object]:
        return {
            "clock_synced": self.synced,
            "ticks_ms": self.ticks.ms(),
            "boot_id": self.boot_id,
            "last_sync_ms": self.last_sync_ms,
        }
