"""The station service: wires config, journal, decider, readers and indicator, and keeps the
scan loop running through camera failures, bad codes and signals until it is told to stop."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from presensi.device.clock import Clock, StationClock, SystemTime, TimeSource
from presensi.device.config import StationConfig, StationSection
from presensi.device.decide import Decider
from presensi.device.errors import ConfigError, JournalError, JournalUnavailable
from presensi.device.eventsheet import SHEET_FILE, SheetFile, phase
from presensi.device.files import json_version, write_atomically
from presensi.device.journal import Journal, open_or_recover
from presensi.device.scanloop import ScanLoop
from presensi.hardware.camera import Camera
from presensi.hardware.decoder import Decoder
from presensi.hardware.errors import HardwareError
from presensi.hardware.indicator import Indicator, Signal
from presensi.hardware.scanner import CodeScanner
from presensi.protocol import systemd, wire
from presensi.protocol.errors import ProtocolError
from presensi.protocol.keys import KeyRing, Revocations, load_signing_key
from presensi.protocol.record import ScanRecord

if TYPE_CHECKING:
    from presensi.device.board_server import BoardServer
    from presensi.device.uplink import Uplink

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
RELOAD_EVERY_S = 5.0
JOURNAL_RETRY_S = 5.0  # while the journal cannot be opened (read-only or missing folder)
WATCHDOG_STALL_S = 30.0  # readers silent this long: stop feeding systemd's watchdog
RESTORE_HOURS = 36  # enough for the duplicate window and the local day's in/out state


@dataclass
class Parts:
    """The hardware a station runs with; built from config, or given by tests and the demo."""

    indicator: Indicator
    camera: Camera | None = None
    decoder: Decoder | None = None
    scanner: CodeScanner | None = None


def fleet_file(config: StationConfig, configured: str) -> Path:
    """The provisioned key or revocation list, or the newer copy the uplink applied later in the
    state folder (next to the journal: the config folder is read-only to the station service)."""
    provisioned = config.path(configured)
    applied = config.path(config.journal.path).parent / provisioned.name
    return applied if json_version(applied) > json_version(provisioned) else provisioned


def load_keys(config: StationConfig) -> KeyRing:
    path = fleet_file(config, config.keys.org_keys)
    try:
        return KeyRing.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no organisation key list, so no badge can be verified. Fix: copy "
            "org-keys.json from the provisioning bundle (keys.org_keys in the config)"
        ) from None
    except (ValueError, ProtocolError) as exc:
        raise ConfigError(f"{path}: not a valid key list ({exc}). Fix: re-provision it") from exc


def load_revocations(path: Path) -> Revocations:
    try:
        return Revocations.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return Revocations()
    except (ValueError, ProtocolError) as exc:
        log.error(
            "%s: ignoring an invalid revocation list (%s); keeping the previous one", path, exc
        )
        raise


class Station:
    def __init__(
        self,
        config: StationConfig,
        parts: Parts,
        *,
        on_record: Callable[[ScanRecord], None] | None = None,
        exit_when_source_ends: bool = True,
        keys: KeyRing | None = None,
        time_source: TimeSource | None = None,
    ) -> None:
        self.config = config
        self.parts = parts
        self.exit_when_source_ends = exit_when_source_ends
        self.stop_event = threading.Event()
        self.readers_stop = threading.Event()  # set alone: stop scanning, keep delivering
        self._revocations_seen: tuple[Path, float] | None = None
        keys = load_keys(config) if keys is None else keys
        self.decider = Decider(
            config.station,
            keys,
            self._read_revocations() or Revocations(),
            config_version=config.station.config_version,
        )
        self._on_record = on_record
        source = SystemTime(Clock(config.clock.source)) if time_source is None else time_source
        self.loop = ScanLoop(
            None, self.decider, parts.indicator, StationClock(source), on_record=self._recorded
        )
        aside = self._open_journal()
        self._settings_path = config.path(config.journal.path).with_name("remote-settings.json")
        self._load_settings()
        self.sheets = SheetFile(config.path(config.journal.path).with_name(SHEET_FILE))
        self.decider.sheet = self.sheets.load()
        self.board: BoardServer | None = None
        self.uplink = make_uplink(config, self) if config.uplink.broker else None
        keys_path = fleet_file(config, config.keys.org_keys)
        self._keys_seen = (keys_path, _mtime(keys_path))
        self.heartbeat = time.monotonic()
        self.source_ended = False  # a finite camera source (a replayed folder) has been read
        self._failures: dict[str, str] = {}
        self._fps_mark = (time.monotonic(), 0)
        if aside is not None:
            log.error("the journal was corrupt; it is kept at %s for recovery", aside)
            parts.indicator.show(Signal.FAULT)

    @property
    def journal(self) -> Journal:
        """The open journal (JournalUnavailable while it cannot be opened)."""
        journal = self.loop.journal
        if journal is None:
            raise JournalUnavailable(self._journal_problem)
        return journal

    def _open_journal(self) -> Path | None:
        """Open (or recover) the journal and hand it to the scan loop. While it cannot be
        opened, say why, show the fault and let run() try again: a scan then shows the fault,
        never a success, and nothing is renamed."""
        try:
            journal, aside = open_journal(self.config)
        except JournalUnavailable as exc:
            self._journal_problem = str(exc)
            log.error("%s; retrying every %.0f s", exc, JOURNAL_RETRY_S)
            self.parts.indicator.show(Signal.FAULT)
            return None
        with self.loop.lock:
            # no scan of this journal happened later than its newest synced one: a clock that
            # says otherwise after a reboot is wrong, and is not trusted below that
            floor = journal.newest_wall_ms()
            self.loop.clock.floor_ms = floor
            now = max(self.loop.clock.source.wall_ns() // 1_000_000, floor or 0)
            self.decider.restore(journal.recent(now - RESTORE_HOURS * 3_600_000))
            self.loop.journal = journal
        if getattr(self, "_journal_problem", ""):
            log.warning("the journal can be written again: %s", journal.path)
        self._journal_problem = ""
        return aside

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Scan until stop() is called (SIGTERM) or, with a finite source, it ends."""
        readers = self._start_readers()
        if self.uplink is not None:
            self.uplink.start()
        self.start_board()
        self.parts.indicator.show(Signal.READY)
        systemd.notify("READY=1")
        ping = systemd.watchdog_interval()
        next_purge = next_reload = next_journal = time.monotonic()
        try:
            while not self.stop_event.wait(min(ping or 1.0, 1.0)):
                now = time.monotonic()
                if ping and self.healthy():
                    systemd.notify("WATCHDOG=1")
                if self.loop.journal is None and now >= next_journal:
                    self._open_journal()
                    next_journal = now + JOURNAL_RETRY_S
                if now >= next_reload:
                    self._reload_revocations()
                    next_reload = now + RELOAD_EVERY_S
                if now >= next_purge:
                    self._purge()
                    next_purge = now + PURGE_EVERY_S
                readers_done = not any(t.is_alive() for t in readers)
                if self.exit_when_source_ends and readers_done and self.uplink is None:
                    break
        finally:
            systemd.notify("STOPPING=1")
            self.stop_event.set()
            self.readers_stop.set()
            for thread in readers:
                thread.join(timeout=5)
            if self.uplink is not None:
                self.uplink.stop()
            self.stop_board()
            self.close()

    def healthy(self) -> bool:
        """Feed the watchdog only while every part works: the readers make progress and the
        uplink's thread lives (a part that died gets the service restarted by systemd)."""
        stalled = time.monotonic() - self.heartbeat >= WATCHDOG_STALL_S
        if stalled and not (self.source_ended and self.parts.scanner is None):
            return False  # a reader is stuck (a finished replay is not)
        return self.uplink is None or self.uplink.alive()

    def stop(self) -> None:
        self.readers_stop.set()
        self.stop_event.set()

    def stop_scanning(self) -> None:
        """Stop the readers but keep the uplink delivering (see `delivered`)."""
        self.readers_stop.set()

    def delivered(self) -> bool:
        """True when the hub has acked every record of every journal this station stored."""
        with self.loop.lock:
            journal = self.loop.journal
            return self.uplink is not None and journal is not None and journal.all_acked()

    def close(self) -> None:
        if self.loop.journal is not None:
            self.loop.journal.close()

    def _start_readers(self) -> list[threading.Thread]:
        threads = []
        if self.parts.camera is not None:
            threads.append(threading.Thread(target=self._camera_reader, name="camera", daemon=True))
        if self.parts.scanner is not None:
            threads.append(
                threading.Thread(target=self._scanner_reader, name="scanner", daemon=True)
            )
        for thread in threads:
            thread.start()
        return threads

    # -- readers ---------------------------------------------------------------------------

    def _camera_reader(self) -> None:
        camera, decoder = self.parts.camera, self.parts.decoder
        assert camera is not None and decoder is not None
        retry_s = self.config.camera.retry_s
        while not self.readers_stop.is_set():
            try:
                camera.open()
                self._recovered("camera")
                try:
                    self.loop.scan_frames(camera, decoder, self.readers_stop, self._beat)
                finally:
                    camera.close()
                if self.exit_when_source_ends:
                    self.source_ended = True
                    log.info(
                        "camera source %s has ended; the station keeps delivering", camera.name
                    )
                    return
            except HardwareError as exc:
                self._failed("camera", exc)
            self._beat()
            self.readers_stop.wait(retry_s)

    def _scanner_reader(self) -> None:
        scanner = self.parts.scanner
        assert scanner is not None
        retry_s = self.config.camera.retry_s
        while not self.readers_stop.is_set():
            try:
                scanner.open()
                self._recovered("scanner")
                while not self.readers_stop.is_set():
                    code = scanner.read_code(0.5)
                    self._beat()
                    if code is not None:
                        self.loop.handle([code], time.monotonic_ns())
            except HardwareError as exc:
                self._failed("scanner", exc)
            finally:
                scanner.close()
            self.readers_stop.wait(retry_s)

    def _failed(self, part: str, exc: Exception) -> None:
        """Show the fault; log a failure once, not at every retry."""
        message = str(exc)
        repeated = self._failures.get(part) == message
        self._failures[part] = message
        level = logging.DEBUG if repeated else logging.ERROR
        log.log(
            level, "%s failed: %s; retrying every %.1f s", part, message, self.config.camera.retry_s
        )
        self.parts.indicator.show(Signal.FAULT)

    def _recovered(self, part: str) -> None:
        if self._failures.pop(part, None) is not None:
            log.warning("%s works again", part)

    def _recorded(self, record: ScanRecord) -> None:
        if self.uplink is not None:
            self.uplink.wake()
        if self._on_record is not None:
            self._on_record(record)

    def apply_settings(self, settings: wire.StationSettings, *, persist: bool = True) -> bool:
        """Apply settings the hub sent (retained on the config topic) if they are newer.

        They are validated like the config file, written atomically next to it (so a restart
        keeps them), then swapped in as a whole. Returns True when applied.
        """
        if settings.version <= self.decider.config_version:
            return False
        changes = {
            k: v
            for k, v in msgspec.structs.asdict(settings).items()
            if v is not None and k != "version"
        }
        merged = {
            **msgspec.to_builtins(self.decider.station),
            **changes,
            "config_version": settings.version,
        }
        try:
            station = msgspec.convert(merged, StationSection)
        except msgspec.ValidationError as exc:
            log.error("ignoring remote settings version %d: %s", settings.version, exc)
            return False
        if station.mode == "event" and not station.event:
            log.error(
                "ignoring remote settings version %d: event mode needs an event", settings.version
            )
            return False
        if persist:
            write_atomically(self._settings_path, wire.encode(settings))
        with self.loop.lock:  # between two scans, never during one
            self.decider.reconfigure(station, settings.version)
        log.info("remote settings version %d applied: %s", settings.version, changes)
        return True

    def apply_sheet(self, sheet: wire.EventSheet | None) -> bool:
        """Keep the event sheet the hub retained (None: it withdrew it) and hand it to the
        decider, which reads it per scan. Returns True when it changed anything."""
        if sheet is None:
            changed = self.sheets.withdraw()
            if changed:
                log.info("event sheet withdrawn")
        else:
            changed = self.sheets.keep(sheet)
            if changed:
                log.info(
                    "event sheet version %d kept: %s (%s), %d participants, now %s",
                    sheet.version,
                    sheet.event,
                    sheet.name,
                    len(sheet.participants),
                    phase(sheet, self.trusted_ms()),
                )
        self.decider.sheet = self.sheets.current  # one reference swap, between two scans
        return changed

    def trusted_ms(self) -> int:
        """The station's trusted time now (the clock the decider uses; it is read under the
        scan loop's lock, held only between two scans)."""
        with self.loop.lock:
            return self.loop.clock.now().trusted_ms

    def start_board(self) -> None:
        """Serve the local board if [board] listen is set; a port that cannot be opened is
        logged, and the station scans without a board."""
        listen = self.config.board.listen
        if not listen or self.board is not None:
            return
        from presensi.device.board import LocalBoard
        from presensi.device.board_server import BoardServer
        from presensi.device.config import listen_address

        host, port = listen_address(listen)
        board = LocalBoard(
            self.config.path(self.config.journal.path), lambda: self.sheets.current, self.trusted_ms
        )
        try:
            self.board = BoardServer(
                board,
                host,
                port,
                station=self.config.station.id,
                zone=self.decider.zone,
                refresh_s=self.config.board.refresh_s,
            )
        except OSError as exc:
            log.error("the local board cannot listen on %s (%s): running without it", listen, exc)
            return
        self.board.start()

    def stop_board(self) -> None:
        if self.board is not None:
            self.board.stop()
            self.board = None

    def telemetry(self) -> dict[str, object]:
        """Figures for the uplink's telemetry (read from another thread: plain reads only)."""
        stats = self.loop.stats
        now = time.monotonic()
        fps = (stats.frames - self._fps_mark[1]) / max(now - self._fps_mark[0], 1e-3)
        self._fps_mark = (now, stats.frames)
        clock = self.loop.clock
        return {
            "decode_fps": round(fps, 1),
            "last_scan_ms": stats.last_scan_ms,
            "clock_synced": clock.source.state().synced and not clock.stepped,
            "clock_steps": clock.steps,
            "config_version": self.decider.config_version,
        }

    def _beat(self) -> None:
        self.heartbeat = time.monotonic()

    # -- housekeeping ----------------------------------------------------------------------

    def _read_revocations(self) -> Revocations | None:
        path = fleet_file(self.config, self.config.keys.revocations)
        seen = (path, _mtime(path))
        if seen[1] == 0.0 or seen == self._revocations_seen:
            return None
        self._revocations_seen = seen
        try:
            return load_revocations(path)
        except (ValueError, ProtocolError):
            return None

    def _reload_revocations(self) -> None:
        self._reload_keys()
        fresh = self._read_revocations()
        if fresh is not None and fresh.version > self.decider.revoked.version:
            log.info("revocation list version %d applied", fresh.version)
            self.decider.revoked = fresh  # one reference swap: the scan loop sees old or new

    def _load_settings(self) -> None:
        try:
            saved = wire.decode(self._settings_path.read_bytes(), wire.StationSettings)
        except FileNotFoundError:
            return
        except ProtocolError as exc:
            log.error("%s: ignoring saved remote settings: %s", self._settings_path, exc)
            return
        self.apply_settings(saved, persist=False)

    def _reload_keys(self) -> None:
        path = fleet_file(self.config, self.config.keys.org_keys)
        seen = (path, _mtime(path))
        if seen == self._keys_seen:
            return
        self._keys_seen = seen
        try:
            self.decider.keys = load_keys(self.config)
            log.info("organisation key list reloaded (%d keys)", len(self.decider.keys.keys))
        except ConfigError as exc:
            log.error("keeping the previous key list: %s", exc)

    def _purge(self) -> None:
        with self.loop.lock:
            if self.loop.journal is None:
                return
            try:
                gone = self.loop.journal.purge(self.config.journal.retention_days)
            except (JournalError, sqlite3.Error) as exc:
                log.error("purge failed, trying again later: %s", exc)
                return
        if gone:
            log.info(
                "purged %d acked records older than %d days",
                gone,
                self.config.journal.retention_days,
            )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def make_uplink(config: StationConfig, station: Station) -> Uplink:
    from presensi.device.clock import boot_id
    from presensi.device.uplink import FleetFiles, Uplink

    settings = config.uplink
    password = ""
    if settings.password_file:
        password = config.path(settings.password_file).read_text().strip()
    state = config.path(config.journal.path).parent
    fleet = FleetFiles(
        keys=state / config.path(config.keys.org_keys).name,
        revocations=state / config.path(config.keys.revocations).name,
        trusted=lambda: station.decider.keys,
    )
    return Uplink(
        settings,
        config.path(config.journal.path),
        config.station.id,
        load_signing_key(config.path(config.keys.station_key)),
        password=password,
        tls_files={
            name: config.path(value)
            for name, value in (
                ("ca", settings.ca_file),
                ("cert", settings.cert_file),
                ("key", settings.key_file),
            )
            if value
        },
        fleet=fleet,
        telemetry=station.telemetry,
        on_config=station.apply_settings,
        on_event=station.apply_sheet,
        boot_id=boot_id(),
    )


def open_journal(config: StationConfig) -> tuple[Journal, Path | None]:
    return open_or_recover(
        config.path(config.journal.path),
        config.station.id,
        min_free_bytes=config.journal.min_free_mb << 20,
    )
