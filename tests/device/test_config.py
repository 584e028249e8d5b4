from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.device import config
from presensi.device.errors import ConfigError
from presensi.protocol.cli import main

ROOT = Path(__file__).parents[2]
MINIMAL = '[station]\nid = "st-1"\nlocation = "pool-a"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_example_config_is_valid() -> None:
    cfg = config.load(ROOT / "deploy/station.example.toml")
    assert cfg.station.timezone == "Asia/Jakarta" and cfg.indicator.green_pin == 17


def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL))
    assert cfg.station.mode == "auto" and cfg.decoder.backend == "zxing"
    assert cfg.path(cfg.journal.path) == tmp_path.resolve() / "journal.db"
    assert cfg.path("/abs/j.db") == Path("/abs/j.db")


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("", "station", "Object missing required field"),
        ('[station]\nid = "st-1"\n', "station", "location"),
        (MINIMAL + "[journal]\nretention_days = 0\n", "journal.retention_days", ">= 1"),
        (MINIMAL + '[camera]\nbackend = "webcam"\n', "camera.backend", "picamera2"),
        (MINIMAL + "[indicator]\ngreen_pin = 40\n", "indicator.green_pin", "<= 27"),
        (MINIMAL + "[indicator]\nred_pin = 17\n", "indicator", "must differ"),
        (MINIMAL + "colour = 1\n", "station", "unknown field colour"),
        (MINIMAL.replace('"st-1"', '"ST 1"'), "station.id", "match"),
        (MINIMAL + 'timezone = "Mars/Olympus"\n', "station.timezone", "Asia/Jakarta"),
        (MINIMAL + 'mode = "event"\n', "station.event", "event id"),
        (MINIMAL + '[camera]\nbackend = "none"\n', "camera.backend", "scanner.port"),
        (MINIMAL + "[camera]\nwatch = true\n", "camera.watch", "folder camera only"),
        (MINIMAL + "[camera]\nmax_exposure_ms = 0.05\n", "camera.max_exposure_ms", "0.1"),
        (MINIMAL + "[camera]\nmax_gain = 0.5\n", "camera.max_gain", ">= 1"),
        (MINIMAL + '[camera]\nbackend = "folder"\n', "camera.source", "folder of images"),
        ("[station\n", "", "not valid TOML"),
    ],
)
def test_errors_name_file_field_and_fix(tmp_path: Path, text: str, field: str, hint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert message.startswith(str(path)) and field in message and hint in message
    assert "Fix:" in message


def test_the_pi_camera_gets_the_measured_settings_or_the_configured_ones(tmp_path: Path) -> None:
    from presensi.device.parts import build_camera
    from presensi.hardware import camera_picamera2 as pc

    camera = build_camera(config.load(write(tmp_path, MINIMAL)))
    assert isinstance(camera, pc.Picamera2Camera)  # made, not opened: no Pi needed
    assert (camera.fps, camera.max_exposure_ms, camera.max_gain) == (
        pc.DEFAULT_FPS,
        pc.DEFAULT_MAX_EXPOSURE_MS,
        pc.DEFAULT_MAX_GAIN,
    )
    text = MINIMAL + "[camera]\nfps = 15\nmax_exposure_ms = 0\nmax_gain = 8\n"
    camera = build_camera(config.load(write(tmp_path, text)))
    assert isinstance(camera, pc.Picamera2Camera)
    assert (camera.fps, camera.max_exposure_ms, camera.max_gain) == (15, None, 8)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such config file.*Fix"):
        config.load(tmp_path / "nope.toml")


def test_run_with_bad_config_exits_nonzero_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[journal]\nretention_days = -1\n")
    result = CliRunner().invoke(main, ["station", "run", "--config", str(path)])
    assert result.exit_code == 2
    assert "journal.retention_days" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["station.toml"]


def test_run_without_org_keys_exits_nonzero_and_writes_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + '[indicator]\nbackend = "console"\n[camera]\nbackend = "folder"\nsource = "."\n',
    )
    result = CliRunner().invoke(main, ["station", "run", "--config", str(path)])
    assert result.exit_code == 2 and "org-keys.json" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["station.toml"]


def test_check_config_command(tmp_path: Path) -> None:
    ok = CliRunner().invoke(
        main, ["station", "check-config", "--config", str(write(tmp_path, MINIMAL))]
    )
    assert ok.exit_code == 0 and "ok" in ok.output
