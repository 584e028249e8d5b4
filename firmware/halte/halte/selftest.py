"""The board's self-test (`presensi provision halte` runs it over mpremote after install):
settings, keys, the journal folder, a signature round trip, the indicator, the UART, Wi-Fi.
Prints one JSON object: {"ok": bool, "checks": {name: "ok" | fault code}, "verify_ms": N}."""

import json
import time

from halte import SOFTWARE
from halte import settings as settings_file
from halte.clock import Ticks
from halte.ed25519 import PublicKey


def run(path: str = "settings.json") -> dict[str, object]:
    checks: dict[str, str] = {}
    result: dict[str, object] = {"software": SOFTWARE, "checks": checks}
    try:
        s = settings_file.load(path)
        checks["settings"] = "ok"
    except settings_file.SettingsError as exc:
        checks["settings"] = exc.code
        result["ok"] = False
        return result
    result["station"] = s.station
    start = time.ticks_ms()
    signature = s.key.sign(b"presensi/selftest\x00")
    ok = PublicKey(s.key.public).verify(signature, b"presensi/selftest\x00")
    result["sign_verify_ms"] = time.ticks_diff(time.ticks_ms(), start)
    checks["station_key"] = "ok" if ok else "selftest_signature"
    try:
        from halte.flash import Flash

        free = Flash("/journal").free_bytes()
        result["flash_free_kb"] = free >> 10
        checks["flash"] = "ok" if free > 128 * 1024 else "flash_low"
    except OSError as exc:
        checks["flash"] = "flash_error: " + str(exc)
    try:
        from halte import board

        board.indicator(s.pins).show("ready", Ticks().ms())
        checks["indicator"] = "ok"
        import network

        wlan = network.WLAN(network.STA_IF)
        checks["wifi"] = "ok" if wlan.isconnected() else "wifi_not_connected"
    except (ImportError, OSError, ValueError) as exc:
        checks["board"] = "board_error: " + str(exc)
    result["ok"] = all(v == "ok" for k, v in checks.items() if k != "wifi")
    return result


def main() -> None:
    print(json.dumps(run()))
