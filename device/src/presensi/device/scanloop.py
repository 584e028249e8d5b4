"""The scan loop: frame -> decode -> verify -> decide -> journal -> signal.

The record is committed before the signal: a green light and a beep always mean "stored".
If the journal cannot store, the station shows the fault signal, never a success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from presensi.device.clock import StationClock, boot_id
from presensi.device.decide import Decider, Moment, signal_for
from presensi.device.errors import JournalError
from presensi.device.journal import Journal
from presensi.hardware.camera import IDLE, Camera
from presensi.hardware.decoder import Decoder
from presensi.hardware.errors import FrameError
from presensi.hardware.indicator import Indicator, Signal
from presensi.protocol.record import ScanRecord

log = logging.getLogger(__name__)


@dataclass
class LoopStats:
    frames: int = 0
    scans: int = 0
    faults: int = 0
    last_scan_ms: int | None = None
    # frame arrival -> indicator set, in ns, for the most recent scans
    latencies_ns: deque[int] = field(default_factory=lambda: deque(maxlen=10_000))


class Debouncer:
    """The same code seen in consecutive frames is one scan.

    A code counts again only after it has been out of sight for `gap_s` seconds (a badge held
    in front of the camera for three seconds is one scan, not forty-five).
    """

    def __init__(self, gap_s: float = 1.5) -> None:
        self.gap_ns = int(gap_s * 1e9)
        self._last_seen: dict[str, int] = {}

    def fresh(self, texts: list[str], now_ns: int) -> list[str]:
        new = [
            t
            for t in dict.fromkeys(texts)
            if now_ns - self._last_seen.get(t, -self.gap_ns - 1) > self.gap_ns
        ]
        for text in texts:
            self._last_seen[text] = now_ns
        if len(self._last_seen) > 64:  # forget codes long out of sight
            self._last_seen = {
                t: s for t, s in self._last_seen.items() if now_ns - s <= self.gap_ns
            }
        return new


class ScanLoop:
    """Owns the journal writes; one instance per station, safe to feed from several readers."""

    def __init__(
        self,
        journal: Journal | None,
        decider: Decider,
        indicator: Indicator,
        clock: StationClock,
        *,
        debounce_s: float = 1.5,
        on_record: Callable[[ScanRecord], None] | None = None,
    ) -> None:
        self.journal = journal
        self.decider = decider
        self.indicator = indicator
        self.clock = clock
        self.boot_id = boot_id()
        self.on_record = on_record
        self.stats = LoopStats()
        self._debouncer = Debouncer(debounce_s)
        self.lock = threading.Lock()

    def handle(self, texts: list[str], arrived_ns: int) -> list[ScanRecord]:
        """Process the texts decoded from one frame (or one serial line) that arrived at
        `arrived_ns` (time.monotonic_ns()). Returns the records stored."""
        stored: list[ScanRecord] = []
        with self.lock:
            for text in self._debouncer.fresh(texts, arrived_ns):
                record = self._store(text)
                if record is None:
                    self.indicator.show(Signal.FAULT)
                    self.stats.faults += 1
                    continue
                self.indicator.show(signal_for(record))
                self.stats.latencies_ns.append(time.monotonic_ns() - arrived_ns)
                self.stats.scans += 1
                self.stats.last_scan_ms = record.wall_ms
                stored.append(record)
        for record in stored:
            if self.on_record is not None:
                self.on_record(record)
        return stored

    def _store(self, text: str) -> ScanRecord | None:
        now = self.clock.now()
        at = Moment(now.wall_ms, now.mono_ns, self.boot_id, now.clock, now.trusted_ms)
        draft = self.decider.decide(text, at)
        if self.journal is None:
            log.error("scan not stored, showing fault: the journal cannot be opened")
            return None
        try:
            record = self.journal.append(draft)
        except JournalError as exc:
            log.error("scan not stored, showing fault: %s", exc)
            return None
        self.decider.remember(record)
        return record

    def scan_frames(
        self,
        camera: Camera,
        decoder: Decoder,
        stop: threading.Event,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        """Read, decode and handle frames until `stop` is set or the camera's stream ends.

        Camera errors propagate (the service shows the fault and reopens the camera); a decoder
        failure on one frame is logged and the frame skipped: nothing in a frame stops the loop.
        """
        while not stop.is_set():
            frame = camera.read()
            arrived = time.monotonic_ns()
            beat()
            if frame is None:
                return
            if frame is IDLE:  # a watched folder with nothing new: read again
                continue
            self.stats.frames += 1
            try:
                texts = decoder.decode(frame)
            except FrameError as exc:  # not an image: say what, once a frame, and go on
                log.warning("frame skipped: %s", exc)
                continue
            except Exception:
                log.exception("decoder %s failed on a frame; skipping it", decoder.name)
                continue
            if texts:
                self.handle(texts, arrived)
