"""What a scanned code means: verify the badge, apply the duplicate window, pick the direction.
The same rules as the Pi station (presensi.device.decide); pure logic, the caller stores first
and signals after.

- Duplicate window: an accepted badge seen again within `duplicate_window_s` is recorded as
  duplicate/duplicate_window with the direction of the scan it repeats. Within one boot the
  gap is measured on the monotonic ticks (no clock step moves it), across boots on wall time.
- Direction in mode auto: the first accepted scan of the local day is "in", later ones "out"
  (the day in the station's fixed UTC offset: Indonesia has no daylight saving time).
"""

from halte import badge, reasons, record
from halte.ids import uuid7

TYPE_CHECKING = False
if TYPE_CHECKING:
    from halte.ed25519 import PublicKey
    from halte.settings import Settings

DAY_MS = 86_400_000


class Moment:
    """When a scan happened, by every clock a record keeps."""

    def __init__(
        self,
        wall_ms: int,
        mono_ns: int,
        boot_id: str,
        synced: bool,
        last_sync_ms: int | None,
        trusted_ms: int | None = None,
    ) -> None:
        self.wall_ms = wall_ms
        self.mono_ns = mono_ns
        self.boot_id = boot_id
        self.synced = synced
        self.last_sync_ms = last_sync_ms
        self.trusted_ms = wall_ms if trusted_ms is None else trusted_ms


class _Seen:
    def __init__(self, rec: dict[str, object], day: int) -> None:
        self.wall_ms = int(rec["wall_ms"])  # type: ignore[call-overload]
        self.mono_ns = int(rec["mono_ns"])  # type: ignore[call-overload]
        self.boot_id = str(rec["boot_id"])
        self.direction = str(rec["direction"])
        self.day = day


class Decider:
    def __init__(self, settings: Settings, keys: dict[bytes, PublicKey], revoked: set[int]) -> None:
        self.settings = settings
        self.keys = keys
        self.revoked = revoked
        self._seen: dict[str, _Seen] = {}

    def day_of(self, wall_ms: int) -> int:
        return (wall_ms + self.settings.utc_offset_min * 60_000) // DAY_MS

    def remember(self, rec: dict[str, object]) -> None:
        """Note a stored record (call only after the journal has it)."""
        employee = rec["employee"]
        if rec["outcome"] == reasons.ACCEPTED and isinstance(employee, str):
            self._seen[employee] = _Seen(rec, self.day_of(int(rec["wall_ms"])))  # type: ignore[call-overload]

    def decide(self, data: bytes, at: Moment) -> dict[str, object]:
        """A draft record (journal, seq and prev_hash are the journal's to fill in)."""
        s = self.settings
        try:
            text = data.decode()
        except UnicodeError:
            text = ""  # not UTF-8: not a badge
        verdict = badge.verify(text, self.keys, self.revoked, at.trusted_ms // 1000, at.synced)
        token = verdict.token
        employee = token.employee if token is not None else None
        ok = verdict.reason == reasons.OK
        outcome = reasons.ACCEPTED if ok else reasons.REJECTED
        reason = verdict.reason
        direction = self._direction(employee if ok else None, at)
        if ok and employee is not None and self._within_window(employee, at):
            outcome, reason = reasons.DUPLICATE, reasons.DUPLICATE_WINDOW
            direction = self._seen[employee].direction
        return {
            "v": record.SCHEMA,
            "station": s.station,
            "journal": "",
            "seq": 0,
            "scan_id": uuid7(at.trusted_ms),
            "employee": employee,
            "serial": token.serial if token is not None else None,
            "outcome": outcome,
            "reason": reason,
            "direction": direction,
            "event": s.event if s.mode == "event" else None,
            "payload_sha256": record.fingerprint(data),
            "payload_len": len(text) if text else len(data),
            "wall_ms": at.wall_ms,
            "mono_ns": at.mono_ns,
            "boot_id": at.boot_id,
            "clock_synced": at.synced,
            "clock_last_sync_ms": at.last_sync_ms,
            "location": s.location,
            "config_version": s.config_version,
            "prev_hash": "",
        }

    def _within_window(self, employee: str, at: Moment) -> bool:
        seen = self._seen.get(employee)
        if seen is None:
            return False
        window_ms = self.settings.duplicate_window_s * 1000
        if seen.boot_id == at.boot_id:
            return bool((at.mono_ns - seen.mono_ns) // 1_000_000 < window_ms)
        return bool(0 <= at.trusted_ms - seen.wall_ms < window_ms)

    def _direction(self, employee: str | None, at: Moment) -> str:
        mode = self.settings.mode
        if mode == "event":
            return "event"
        if mode != "auto":
            return mode
        if employee is None:
            return "in"
        seen = self._seen.get(employee)
        if seen is None:
            return "in"
        if seen.boot_id == at.boot_id:
            seen_day = self.day_of(at.trusted_ms - (at.mono_ns - seen.mono_ns) // 1_000_000)
        else:
            seen_day = seen.day
        return "out" if seen_day == self.day_of(at.trusted_ms) else "in"
