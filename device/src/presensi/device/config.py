"""The station's config: one TOML file, validated at start.

Every error names the file, the field and the fix. Relative paths are taken relative to the
config file's folder, so a provisioning bundle can be moved as a whole.
"""

from __future__ import annotations

import re
import tomllib
import typing
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from presensi.device.errors import ConfigError

Pin = Annotated[int, msgspec.Meta(ge=0, le=27)]
Ident = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class StationSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    id: Ident
    location: Ident
    mode: Literal["in", "out", "auto", "event"] = "auto"
    event: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    timezone: str = "Asia/Jakarta"
    duplicate_window_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 120
    config_version: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0


class CameraSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    backend: Literal["picamera2", "opencv", "folder", "sim", "none"] = "picamera2"
    source: str = ""
    width: Annotated[int, msgspec.Meta(ge=160, le=4096)] = 640
    height: Annotated[int, msgspec.Meta(ge=120, le=4096)] = 480
    # picamera2: unset holds the measured 30 fps (camera_picamera2.DEFAULT_FPS)
    fps: Annotated[float, msgspec.Meta(gt=0, le=120)] | None = None
    # picamera2 only: the automatic exposure's longest exposure, beyond it gain (0: the
    # sensor's own profile), and the gain it may go up to; defaults measured on the presentation
    # simulator (docs/benchmarks.md, issue 14), as camera_picamera2.DEFAULT_MAX_EXPOSURE_MS / _GAIN
    max_exposure_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 8.0
    max_gain: Annotated[float, msgspec.Meta(ge=1, le=64)] = 16.0
    retry_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    # folder: keep reading images that appear in the folder later (a kiosk fed by another
    # program) instead of replaying it once
    watch: bool = False


class ScannerSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    port: str = ""
    baudrate: Annotated[int, msgspec.Meta(ge=1200, le=921_600)] = 9600


class DecoderSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    backend: Literal["zxing", "zbar"] = "zxing"


class IndicatorSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    backend: Literal["gpio", "console", "none"] = "gpio"
    green_pin: Pin = 17
    red_pin: Pin = 27
    buzzer_pin: Pin = 22
    active_high: bool = True


class JournalSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    path: str = "journal.db"
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 60
    min_free_mb: Annotated[int, msgspec.Meta(ge=1)] = 64


class KeysSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    org_keys: str = "org-keys.json"
    revocations: str = "revocations.json"
    station_key: str = "station.key"


class UplinkSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # empty broker: the station works offline only (records wait in the journal)
    broker: Annotated[str, msgspec.Meta(pattern=r"^(mqtts?://[^/\s]+)?$")] = ""
    username: str = ""
    password_file: str = ""  # a file holding the broker password (kept out of the config)
    ca_file: str = ""  # with mqtts://: the CA that signed the broker's certificate
    cert_file: str = ""  # with mqtts://: this station's client certificate (CN = station id)
    key_file: str = ""  # ... and its private key
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    window: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # batches in flight before an ack
    resend_s: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    telemetry_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    reconnect_min_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # full jitter (first retry in [0, 2 x min], bound doubling to 20 s): a fleet of 1,000 back
    # after a long outage makes 100 connects a second falling to 0 over 20 s (operations.md)
    reconnect_max_s: Annotated[float, msgspec.Meta(gt=0)] = 20.0


class ClockSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # kernel: ask the kernel whether NTP has synchronised the clock (adjtimex)
    source: Literal["kernel", "synced", "unsynced"] = "kernel"


class BoardSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # the read-only board of the event sheet's event on the venue's LAN (docs/events.md):
    # "host:port" to serve it there, e.g. "0.0.0.0:8090"; empty (the default): no board
    listen: Annotated[str, msgspec.Meta(pattern=r"^([0-9A-Za-z.:\[\]-]*:[0-9]{1,5})?$")] = ""
    refresh_s: Annotated[int, msgspec.Meta(ge=1, le=300)] = 3


class StationConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    station: StationSection
    camera: CameraSection = CameraSection()
    scanner: ScannerSection = ScannerSection()
    decoder: DecoderSection = DecoderSection()
    indicator: IndicatorSection = IndicatorSection()
    journal: JournalSection = JournalSection()
    keys: KeysSection = KeysSection()
    uplink: UplinkSection = UplinkSection()
    clock: ClockSection = ClockSection()
    board: BoardSection = BoardSection()
    base_dir: str = "."  # set by load(): the folder relative paths are resolved against

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p


_AT = re.compile(r" - at `\$\.?(.*)`$")


def load(path: str | Path) -> StationConfig:
    """Read and validate a station config; raise ConfigError naming file, field and fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file. Fix: pass the right --config path, or provision the "
            "station (docs/provisioning.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}). Fix: check the file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix: correct the syntax there") from exc
    if "base_dir" in data:
        raise ConfigError(f"{path}: base_dir: unknown field. Fix: remove it")
    data["base_dir"] = str(path.resolve().parent)
    try:
        config = msgspec.convert(data, StationConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(path, str(exc))) from None
    _check_semantics(path, config)
    return config


def _explain(path: Path, message: str) -> str:
    match = _AT.search(message)
    field = match.group(1) if match else "(top level)"
    what = _AT.sub("", message).replace("`", "")
    if what.startswith("Object missing required field"):
        return (
            f"{path}: {field or 'top level'}: {what}. Fix: add it (see deploy/station.example.toml)"
        )
    if what.startswith("Invalid enum value"):
        choices = " | ".join(repr(c) for c in _choices(field))
        return f"{path}: {field}: {what}. Fix: use one of {choices}"
    if what.startswith("Object contains unknown field"):
        return f"{path}: {field or 'top level'}: {what}. Fix: remove it or correct its spelling"
    return (
        f"{path}: {field}: {what}. "
        f"Fix: set {field} to a valid value (see deploy/station.example.toml)"
    )


def _choices(field: str) -> tuple[object, ...]:
    """The allowed values of a Literal field, found by walking the config's type hints."""
    kind: object = StationConfig
    for name in field.split("."):
        kind = typing.get_type_hints(kind).get(name)
    return typing.get_args(kind)


def _check_semantics(path: Path, config: StationConfig) -> None:
    station = config.station
    try:
        zoneinfo.ZoneInfo(station.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}: station.timezone: unknown time zone {station.timezone!r}. "
            "Fix: use an IANA name such as 'Asia/Jakarta', 'Asia/Makassar' or 'Asia/Jayapura'"
        ) from None
    if station.mode == "event" and not station.event:
        raise ConfigError(
            f"{path}: station.event: mode is 'event' but no event id is set. "
            "Fix: set station.event, or choose another mode"
        )
    if config.camera.backend == "none" and not config.scanner.port:
        raise ConfigError(
            f"{path}: camera.backend is 'none' and no scanner.port is set, so "
            "nothing can scan. Fix: choose a camera backend or set scanner.port"
        )
    if config.camera.watch and config.camera.backend != "folder":
        raise ConfigError(
            f"{path}: camera.watch is for the folder camera only (backend is "
            f'{config.camera.backend!r}). Fix: remove camera.watch, or set backend = "folder"'
        )
    if 0 < config.camera.max_exposure_ms < 0.1:
        raise ConfigError(
            f"{path}: camera.max_exposure_ms {config.camera.max_exposure_ms} is shorter than any "
            "sensor's exposure. Fix: set it to 0.1 or more, or 0 for the sensor's own profile"
        )
    if config.camera.backend == "folder" and not config.camera.source:
        raise ConfigError(
            f"{path}: camera.backend is 'folder' but camera.source names no folder. "
            "Fix: set camera.source to the folder of images"
        )
    if config.board.listen and listen_address(config.board.listen)[1] > 65535:
        raise ConfigError(
            f"{path}: board.listen: port out of range in {config.board.listen!r}. "
            'Fix: use "host:port" with a port up to 65535, e.g. "0.0.0.0:8090"'
        )
    pins = [config.indicator.green_pin, config.indicator.red_pin, config.indicator.buzzer_pin]
    if config.indicator.backend == "gpio" and len(set(pins)) != len(pins):
        raise ConfigError(
            f"{path}: indicator: green_pin, red_pin and buzzer_pin must differ. "
            "Fix: wire each to its own GPIO (hardware/README.md)"
        )


def listen_address(listen: str) -> tuple[str, int]:
    """("host", port) of a "host:port" (an IPv6 host in brackets: "[::]:8090")."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
