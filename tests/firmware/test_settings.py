"""The halte's settings.json under MicroPython: what provisioning writes is accepted; a file
that flash or a person damaged is refused with a fault code, and the board waits and retries
(no crash, no reboot loop)."""

from __future__ import annotations

import json

from presensi.provisioning.halte import checked
from tests.firmware.wasm import run_mp
from tests.protocol.make_record_vectors import OUT as RECORD_VECTORS
from tests.protocol.make_vectors import OUT as BADGE_VECTORS


def good() -> dict[str, object]:
    badges = json.loads(BADGE_VECTORS.read_text())
    seed = json.loads(RECORD_VECTORS.read_text())["station_private_seed_hex"]
    return checked(
        {
            "format": "presensi-halte-settings",
            "station": "halte-01",
            "location": "halte-1",
            "mode": "auto",
            "utc_offset_min": 420,
            "station_seed": seed,
            "org_keys": [badges["org_public_key_hex"]],
            "revocations": {"version": 1, "serials": [666]},
            "wifi": {"ssid": "Halte Simpang Lima ✓", "password": "p"},
            "broker": {"host": "10.8.0.1", "port": 1883, "username": "halte-01", "password": "x"},
        }
    )


def test_good_and_damaged_settings() -> None:
    text = json.dumps(good(), ensure_ascii=False)
    cases = [
        ("good", text),
        ("a flipped character", text.replace('"halte-01"', '"halte-02"', 1)),
        ("truncated", text[: len(text) // 2]),
        ("empty", ""),
        ("not ours", json.dumps({"format": "something-else"})),
        ("no seed", json.dumps(checked({k: v for k, v in good().items() if k != "station_seed"}))),
        ("bad seed", json.dumps(checked({**good(), "station_seed": "zz"}))),
        ("event without id", json.dumps(checked({**good(), "mode": "event"}))),
        ("no broker port", json.dumps(checked({**good(), "broker": {"host": "h"}}))),
        ("no org keys", json.dumps(checked({**good(), "org_keys": []}))),
        ("org key not a point", json.dumps(checked({**good(), "org_keys": ["ff" * 32]}))),
        ("unknown tuning", json.dumps(checked({**good(), "uplink": {"batchsize": 5}}))),
        ("pin not a number", json.dumps(checked({**good(), "pins": {"green": "GP14"}}))),
    ]
    out = {o["case"]: o for o in run_mp("settings_bad.py", json.dumps(cases))}
    assert out["good"] == {"case": "good", "code": "ok", "station": "halte-01", "keys": 1}
    assert out["a flipped character"]["code"] == "settings_checksum"
    assert out["truncated"]["code"] == "settings_not_json"
    assert out["empty"]["code"] == "settings_not_json"
    assert out["not ours"]["code"] == "settings_wrong_format"
    assert out["no seed"]["code"] == "settings_incomplete"
    assert out["bad seed"]["code"] == "settings_incomplete"
    assert out["event without id"]["code"] == "settings_bad_mode"
    assert out["no broker port"]["code"] == "settings_bad_broker"
    assert out["no org keys"]["code"] == "settings_no_org_keys"
    assert out["org key not a point"]["code"] == "settings_bad_key"
    assert out["unknown tuning"]["code"] == "settings_bad_uplink"
    assert out["pin not a number"]["code"] == "settings_bad_pins"
    assert out["board without settings"] == {
        "case": "board without settings",
        "retries": 3,
        "sleep_ms": [5000, 5000, 5000],
    }
