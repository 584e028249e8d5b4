"""The station self-test run after provisioning: is everything the station needs working?

Each check is ``{"name", "ok", "detail", "ms"}``; a failing check is reported, never raised, so
the installer sees every problem at once (a broker that cannot be reached yet is common on site
and not a reason to stop). The checks:

* ``config``: the station's TOML config loads and validates;
* ``camera``: open the camera, read one frame, decode it (frame size and any QR texts);
* ``scanner``: with a serial QR scanner configured, its port opens;
* ``signal <name>``: each indicator signal is shown once, so the installer sees each LED and
  hears the buzzer (the detail says what should be seen and heard);
* ``journal``: a temporary journal in the journal's folder is written, read back and deleted
  (the station's own journal is never opened);
* ``broker``: a TCP connection to the uplink broker, with a short timeout;
* ``clock``: whether the clock is synchronised, with the station's time to compare.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from presensi.hardware.camera import IDLE
from presensi.protocol.parts import part_version

if TYPE_CHECKING:
    from presensi.device.config import StationConfig
    from presensi.hardware.camera import Camera
    from presensi.hardware.decoder import Decoder
    from presensi.hardware.indicator import Indicator

AGENT_VERSION = part_version("presensi-device")
BROKER_TIMEOUT_S = 3.0
_MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TEXT_SHOWN = 48  # characters of a decoded text put in the report

Check = dict[str, Any]
Outcome = tuple[bool, str]


def run_self_test(
    config_path: str | Path,
    *,
    indicator: Indicator | None = None,
    camera: Camera | None = None,
    decoder: Decoder | None = None,
    broker_timeout: float = BROKER_TIMEOUT_S,
) -> dict[str, Any]:
    """Run every check against the station configured in `config_path`; return the report.

    Parts not given are built from the config. The camera is opened and closed again (given or
    not); a given indicator is left open for its owner, one built here is closed.
    """
    from presensi.device.config import load

    checks: list[Check] = []
    holder: list[StationConfig] = []

    def load_config() -> Outcome:
        config = load(config_path)
        holder.append(config)
        station = config.station
        return True, (
            f"station {station.id} at {station.location}, mode {station.mode}, "
            f"config version {station.config_version}"
        )

    checks.append(_timed("config", load_config))
    config = holder[0] if holder else None
    if config is not None:
        checks.append(_timed("camera", lambda: _check_camera(config, camera, decoder)))
        if config.scanner.port:
            checks.append(_timed("scanner", lambda: _check_scanner(config)))
        checks.extend(_check_indicator(config, indicator))
        checks.append(_timed("journal", lambda: _check_journal(config)))
        checks.append(_timed("broker", lambda: _check_broker(config, broker_timeout)))
        checks.append(_timed("clock", lambda: _check_clock(config)))
    now = time.time()
    return {
        "station_id": config.station.id if config else None,
        "location": config.station.location if config else None,
        "agent_version": AGENT_VERSION,
        "hardware_serial": hardware_serial(),
        "hostname": socket.gethostname(),
        "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        "time_ms": int(now * 1000),
        "ok": all(check["ok"] for check in checks),
        "checks": checks,
    }


def _timed(name: str, run: Callable[[], Outcome]) -> Check:
    start = time.monotonic()
    try:
        ok, detail = run()
    except Exception as exc:  # noqa: BLE001 - a failing check is reported, not raised
        ok, detail = False, _describe(exc)
    return {"name": name, "ok": ok, "detail": detail, "ms": _ms_since(start)}


def _ms_since(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def _describe(exc: BaseException) -> str:
    text = str(exc) or "(no message)"
    return text if isinstance(exc, OSError | ValueError) else f"{type(exc).__name__}: {text}"


# -- camera and scanner ----------------------------------------------------------------------------


def _check_camera(config: StationConfig, camera: Camera | None, decoder: Decoder | None) -> Outcome:
    if camera is None:
        if config.camera.backend == "none":
            return (
                True,
                f"no camera configured (scanning with the serial scanner on {config.scanner.port})",
            )
        from presensi.device.parts import build_camera

        camera = build_camera(config)
        if camera is None:  # pragma: no cover - build_camera returns None only for "none"
            return True, "no camera configured"
    if decoder is None:
        from presensi.hardware.backends import DECODERS

        decoder = DECODERS.make(config.decoder.backend)
    try:
        camera.open()
        frame = camera.read()
    finally:
        camera.close()
    if frame is None:
        return False, f"the {camera.name} camera opened but gave no frame"
    if frame is IDLE:  # a watched folder that is empty: it works, nothing to decode yet
        return True, (
            f"{camera.name} camera watches {config.path(config.camera.source)}: no image yet "
            "(put one in to test decoding)"
        )
    height, width = frame.shape[:2]
    texts = decoder.decode(frame)
    where = f"{camera.name} camera: {width}x{height} frame, decoded with {decoder.name}"
    if not texts:
        return True, f"{where}: no QR code in view (hold a badge up to test decoding)"
    shown = ", ".join(_shorten(text) for text in texts)
    return True, f"{where}: {len(texts)} code(s): {shown}"


def _shorten(text: str) -> str:
    text = text.encode("ascii", "backslashreplace").decode()
    return repr(text if len(text) <= _TEXT_SHOWN else text[: _TEXT_SHOWN - 1] + "…")


def _check_scanner(config: StationConfig) -> Outcome:
    from presensi.device.parts import build_scanner

    scanner = build_scanner(config)
    if scanner is None:  # pragma: no cover - only called when a port is set
        return True, "no serial scanner configured"
    scanner.open()
    scanner.close()
    return (
        True,
        f"serial scanner port {config.scanner.port} opens at {config.scanner.baudrate} baud",
    )


# -- indicator -------------------------------------------------------------------------------------


def _check_indicator(config: StationConfig, indicator: Indicator | None) -> list[Check]:
    from presensi.hardware.indicator import DESCRIPTIONS, PATTERNS, Signal

    if indicator is None and config.indicator.backend == "none":
        return [_timed("indicator", lambda: (True, "no indicator configured"))]
    built = indicator is None
    if indicator is None:
        from presensi.device.parts import build_indicator

        start = time.monotonic()
        try:
            indicator = build_indicator(config)
        except Exception as exc:  # noqa: BLE001 - reported, like every check
            return [
                {"name": "indicator", "ok": False, "detail": _describe(exc), "ms": _ms_since(start)}
            ]
    shown = indicator

    def show(signal: Signal) -> Outcome:
        shown.show(signal)
        wait_idle = getattr(shown, "wait_idle", None)
        if callable(wait_idle) and not wait_idle(30.0):
            return False, f"the {signal} pattern did not finish within 30 s"
        steps = PATTERNS[signal]
        outputs = [
            label
            for label, used in (
                ("green LED", any(step.green for step in steps)),
                ("red LED", any(step.red for step in steps)),
                ("buzzer", any(step.buzzer for step in steps)),
            )
            if used
        ]
        return True, f"{' + '.join(outputs)}: {DESCRIPTIONS[signal]}"

    def check(signal: Signal) -> Check:
        return _timed(f"signal {signal}", lambda: show(signal))

    try:
        return [check(signal) for signal in Signal]
    finally:
        if built:
            with contextlib.suppress(Exception):
                shown.close()


# -- journal ---------------------------------------------------------------------------------------


def _check_journal(config: StationConfig) -> Outcome:
    from presensi.device.clock import boot_id
    from presensi.device.journal import Journal
    from presensi.protocol.ids import uuid7
    from presensi.protocol.reasons import Outcome as ScanOutcome
    from presensi.protocol.reasons import Reason
    from presensi.protocol.record import GENESIS, ScanRecord, payload_fingerprint

    folder = config.path(config.journal.path).parent
    created = not folder.exists()
    path = folder / f".selftest-{uuid.uuid4().hex}.db"
    now_ms = time.time_ns() // 1_000_000
    text = "presensi self-test"
    draft = ScanRecord(
        station=config.station.id,
        seq=0,
        scan_id=uuid7(now_ms),
        employee=None,
        serial=None,
        outcome=ScanOutcome.REJECTED,
        reason=Reason.NOT_A_BADGE,
        direction="in",
        payload_sha256=payload_fingerprint(text),
        payload_len=len(text),
        wall_ms=now_ms,
        mono_ns=time.monotonic_ns(),
        boot_id=boot_id(),
        clock_synced=False,
        clock_last_sync_ms=None,
        location=config.station.location,
        config_version=config.station.config_version,
        prev_hash=GENESIS,
    )
    try:
        journal = Journal(path, config.station.id, min_free_bytes=config.journal.min_free_mb << 20)
        try:
            stored = journal.append(draft)
            back = list(journal.records())
        finally:
            journal.close()
        free_mb = shutil.disk_usage(folder).free >> 20
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
    if back != [stored]:
        return False, f"a test record written in {folder} did not read back the same"
    return True, f"wrote, read back and deleted a test record in {folder} ({free_mb} MB free)"


# -- broker and clock ------------------------------------------------------------------------------


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of an mqtt:// or mqtts:// broker URL (default ports 1883 and 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in _MQTT_PORTS or not parts.hostname:
        raise ValueError(f"uplink.broker {url!r} is not an mqtt:// or mqtts:// URL with a host")
    return parts.hostname, parts.port or _MQTT_PORTS[parts.scheme]


def _check_broker(config: StationConfig, timeout: float) -> Outcome:
    url = config.uplink.broker
    if not url:
        return True, "no broker configured: the station works offline (records stay in its journal)"
    host, port = broker_address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        return False, (
            f"cannot reach the broker {host}:{port} ({reason}). The station still records "
            "scans offline; check its network (Wi-Fi, SIM, cable) and the broker address"
        )
    return True, f"TCP connection to the broker {host}:{port} works"


def _check_clock(config: StationConfig) -> Outcome:
    from presensi.device.clock import Clock

    state = Clock(config.clock.source, cache_s=0.0).state()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if state.synced:
        return True, f"synchronised; station time {now} (UTC)"
    return False, (
        f"not synchronised (no NTP yet); station time {now} (UTC): compare it with your watch. "
        "Scans are recorded and marked unsynchronised until the station reaches a time server"
    )


def hardware_serial() -> str:
    """The board's serial number (a Raspberry Pi's from /proc/cpuinfo), else the machine id."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "serial" and value.strip():
                return value.strip()
    for path in ("/sys/firmware/devicetree/base/serial-number", "/etc/machine-id"):
        with contextlib.suppress(OSError):
            value = Path(path).read_text().strip("\x00 \n")
            if value:
                return value
    return "unknown"


def format_report(report: dict[str, Any], *, unicode: bool = True) -> str:
    """The self-test report as a table: one line per check, ✔ or ✘ (OK/FAIL without Unicode)."""
    good, bad = ("✔", "✘") if unicode else ("OK  ", "FAIL")
    checks = [c for c in report.get("checks", []) if isinstance(c, dict)]
    width = max((len(str(c.get("name", ""))) for c in checks), default=0)
    station = report.get("station_id") or "?"
    hardware = report.get("hardware_serial", "?")
    agent = report.get("agent_version", "?")
    lines = [
        f"Self-test of station {station} (hardware {hardware}, agent {agent}, "
        f"{report.get('time', '?')}):"
    ]
    for check in checks:
        mark = good if check.get("ok") else bad
        name = str(check.get("name", "?")).ljust(width)
        lines.append(f"  {mark} {name}  {check.get('detail', '')} ({check.get('ms', '?')} ms)")
    failed = sum(1 for c in checks if not c.get("ok"))
    if failed:
        lines.append(
            f"{failed} of {len(checks)} checks failed. The station is provisioned; "
            "fix what failed, then test again: `presensi station self-test` on the station "
            "(or flash it again)"
        )
    else:
        lines.append(f"All {len(checks)} checks passed.")
    return "\n".join(lines)


def can_encode(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None)
    try:
        text.encode(str(encoding or "utf-8"))
    except (UnicodeEncodeError, LookupError):
        return False
    return True
