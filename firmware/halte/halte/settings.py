"""The station's settings on flash (settings.json, written by `presensi provision halte`).

Checked whole at start: a missing, unreadable, tampered (its `check` is SHA-256 over the
canonical JSON of everything else) or incomplete file is a SettingsError with a fault code; the
station then shows the fault signal and waits for an installer, it never reboots in a loop.
"""

import hashlib
import json
from binascii import hexlify, unhexlify

from halte import record
from halte.ed25519 import PublicKey, SigningKey

FORMAT = "presensi-halte-settings"
MODES = ("in", "out", "auto", "event")
# the tuning a settings file may give (halte.journal.Journal, halte.uplink.Uplink, the pins)
JOURNAL_KEYS = ("max_bytes", "reserve_bytes", "segment_records")
UPLINK_KEYS = (
    "batch_size",
    "window",
    "resend_ms",
    "telemetry_ms",
    "keepalive_s",
    "backoff_min_ms",
    "backoff_max_ms",
)
PIN_KEYS = ("uart", "tx", "rx", "baud", "green", "red", "buzzer")


class SettingsError(ValueError):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code + (": " + detail if detail else ""))
        self.code = code


class Settings:
    def __init__(self, data: dict[str, object]) -> None:
        self.raw = data
        try:
            self.station: str = data["station"]  # type: ignore[assignment]
            self.location: str = data["location"]  # type: ignore[assignment]
            self.mode: str = data.get("mode", "auto")  # type: ignore[assignment]
            self.event: str | None = data.get("event")  # type: ignore[assignment]
            self.utc_offset_min: int = data.get("utc_offset_min", 420)  # type: ignore[assignment]
            self.duplicate_window_s: int = data.get("duplicate_window_s", 120)  # type: ignore[assignment]
            self.config_version: int = data.get("config_version", 1)  # type: ignore[assignment]
            self.wifi: dict[str, str] = data.get("wifi", {})  # type: ignore[assignment]
            self.broker: dict[str, object] = data["broker"]  # type: ignore[assignment]
            self.pins: dict[str, int] = data.get("pins", {})  # type: ignore[assignment]
            self.journal: dict[str, int] = data.get("journal", {})  # type: ignore[assignment]
            self.uplink: dict[str, int] = data.get("uplink", {})  # type: ignore[assignment]
            seed = unhexlify(data["station_seed"])  # type: ignore[arg-type]
            org = [unhexlify(k) for k in data["org_keys"]]  # type: ignore[attr-defined]
            revocations = data.get("revocations", {"version": 0, "serials": []})
            self.revocations_version: int = revocations["version"]  # type: ignore[index]
            self.revoked: set[int] = set(revocations["serials"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError("settings_incomplete", str(exc))
        if self.mode not in MODES or (self.mode == "event" and not self.event):
            raise SettingsError("settings_bad_mode", self.mode)
        if not isinstance(self.broker.get("host"), str) or not isinstance(
            self.broker.get("port"), int
        ):
            raise SettingsError("settings_bad_broker")
        try:
            self.key = SigningKey(seed)
            self.keys = {hashlib.sha256(raw).digest()[:4]: PublicKey(raw) for raw in org}
        except ValueError as exc:
            raise SettingsError("settings_bad_key", str(exc))
        if not self.keys:
            raise SettingsError("settings_no_org_keys")
        for name, section, allowed in (
            ("journal", self.journal, JOURNAL_KEYS),
            ("uplink", self.uplink, UPLINK_KEYS),
            ("pins", self.pins, PIN_KEYS),
        ):
            if not isinstance(section, dict):
                raise SettingsError("settings_bad_" + name)
            for key, value in section.items():
                if key not in allowed or not isinstance(value, int) or value < 0:
                    raise SettingsError("settings_bad_" + name, key)

    def public_key_hex(self) -> str:
        return hexlify(self.key.public).decode()


def checked(data: dict[str, object]) -> dict[str, object]:
    """`data` with its `check` added (what provisioning writes)."""
    body = {k: v for k, v in data.items() if k != "check"}
    body["check"] = hexlify(hashlib.sha256(record.canonical_text(body).encode()).digest()).decode()
    return body


def parse(text: bytes) -> Settings:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError("settings_not_json", str(exc))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SettingsError("settings_wrong_format")
    if checked(data).get("check") != data.get("check"):
        raise SettingsError("settings_checksum")
    return Settings(data)


def load(path: str = "settings.json") -> Settings:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise SettingsError("settings_missing", str(exc))
    return parse(text)
