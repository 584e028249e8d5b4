"""`presensi provision halte`: the settings made from an enrolled bundle, the files mpy-cross
compiles, the mpremote commands, and the board's self-test (run under the MicroPython wasm
port by a stand-in mpremote on the compiled .mpy files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from presensi.protocol.cli import main
from presensi.provisioning.enroll import enroll_station
from presensi.provisioning.locations import import_locations, sample_csv_text
from presensi.provisioning.org import Org

ROOT = Path(__file__).resolve().parents[2]


def test_install_on_a_stand_in_board_and_its_self_test(tmp_path: Path) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    location = json.loads(json.dumps(sample_csv_text().splitlines()[1].split(",")[0]))
    bundle = enroll_station(org, None, location, broker_url="mqtt://10.8.0.1:1883")
    board = tmp_path / "board"
    board.mkdir()
    fake = tmp_path / "mpremote"
    fake.write_text(
        f"#!/bin/sh\ncd {ROOT}\nFAKE_BOARD={board} exec {sys.executable} -m "
        'tests.firmware.fake_mpremote "$@"\n'
    )
    fake.chmod(0o755)
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("rahasia-halte\n")
    result = CliRunner().invoke(
        main,
        [
            "provision",
            "halte",
            "--org",
            str(org.path),
            bundle.name,
            "--port",
            "/dev/ttyACM0",
            "--wifi-ssid",
            "halte-net",
            "--wifi-password-file",
            str(wifi),
            "--mpremote",
            str(fake),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "self-test ok" in result.output
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [c[2] for c in calls] == ["fs", "fs", "fs", "exec"]
    assert all(c[:2] == ["connect", "/dev/ttyACM0"] for c in calls)
    installed = sorted(p.relative_to(board).as_posix() for p in board.rglob("*") if p.is_file())
    sources = sorted((ROOT / "firmware/halte/halte").glob("*.py"))
    assert installed == sorted(
        ["main.py", "settings.json", *(f"halte/{p.stem}.mpy" for p in sources)]
    )
    settings = json.loads((board / "settings.json").read_text())
    assert settings["station"] == bundle.name
    assert settings["broker"] == {
        "host": "10.8.0.1",
        "port": 1883,
        "username": bundle.name,
        "password": (bundle / "broker.password").read_text().strip(),
    }
    assert settings["utc_offset_min"] == 420


def test_a_tls_broker_is_refused_with_a_fix(tmp_path: Path) -> None:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    location = sample_csv_text().splitlines()[1].split(",")[0]
    bundle = enroll_station(org, None, location, broker_url="mqtts://hub.example:8883")
    wifi = tmp_path / "wifi.txt"
    wifi.write_text("x")
    result = CliRunner().invoke(
        main,
        [
            "provision",
            "halte",
            "--org",
            str(org.path),
            bundle.name,
            "--wifi-ssid",
            "n",
            "--wifi-password-file",
            str(wifi),
            "--dry-run",
        ],
    )
    assert result.exit_code != 0
    assert "plain mqtt:// only" in result.output
