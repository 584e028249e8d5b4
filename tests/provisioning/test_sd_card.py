"""The SD-card path, as docs/install.md tells it: the admin enrolls a station, the installer
copies its bundle folder to the card's boot partition (FAT: no file modes), and at boot
`presensi station install-bundle` (presensi-firstboot.service) checks it against its manifest,
installs it as the config folder, and deletes the secrets from the card."""

from __future__ import annotations

import grp
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from presensi.demo.mosquitto import free_port
from presensi.device import config as station_config
from presensi.device.boot_bundle import MARKER, find_boot_bundle
from presensi.protocol.cli import main
from presensi.provisioning.locations import import_locations, sample_csv_text
from presensi.provisioning.org import Org

ROOT = Path(__file__).parents[2]


@pytest.fixture
def org(tmp_path: Path) -> Org:
    org = Org.init(tmp_path / "org", "Trans Semarang")
    import_locations(org, sample_csv_text())
    return org


def enroll(org: Org, location: str, *extra: str) -> Path:
    broker = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: the self-test says so, fast
    done = CliRunner().invoke(
        main,
        [
            *("provision", "station", "--org", str(org.path), "--location", location),
            *("--broker", broker, "--indicator", "console", *extra),
        ],
    )
    assert done.exit_code == 0, done.output
    (bundle,) = (p for p in org.stations_dir.iterdir() if location in p.name)
    return bundle


def copy_to_card(bundle: Path, boot: Path) -> Path:
    """What a laptop does: the folder onto the FAT boot partition, where every file reads 0755."""
    card = boot / "presensi"
    shutil.copytree(bundle, card, copy_function=shutil.copyfile)
    for path in [card, *card.iterdir()]:
        path.chmod(0o755)
    return card


def install(card: Path, etc: Path, *extra: str) -> Result:
    group = grp.getgrgid(os.getgid()).gr_name
    args = ["station", "install-bundle", "--from", str(card), "--config-dir", str(etc)]
    return CliRunner().invoke(main, [*args, "--group", group, *extra])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_bundle_on_the_card_is_installed_with_its_modes_and_deleted_from_the_card(
    org: Org, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    bundle = enroll(org, "pool-mangkang", "--camera", "folder", "--camera-source", str(frames))
    boot = tmp_path / "boot" / "firmware"
    card = copy_to_card(bundle, boot)
    (card / "._station.toml").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    assert find_boot_bundle((tmp_path / "boot" / "presensi", card)) == card
    etc = tmp_path / "etc" / "presensi"

    done = install(card, etc)
    assert done.exit_code == 0, done.output
    assert "installed station st-pool-mangkang-01" in done.output
    assert "._station.toml" in done.output  # ignored, and said so
    assert "camera" in done.output and "watches" in done.output  # the self-test ran
    # the config folder: the bundle's files, modes for the station service's group
    names = {p.name for p in etc.iterdir()}
    assert names == {p.name for p in bundle.iterdir()}
    assert mode(etc) == 0o750
    assert mode(etc / "station.key") == 0o640 and mode(etc / "broker.password") == 0o640
    assert mode(etc / "station.toml") == 0o644
    assert all(p.stat().st_gid == os.getgid() for p in etc.iterdir())
    for name in names:
        assert (etc / name).read_bytes() == (bundle / name).read_bytes()
    assert station_config.load(etc / "station.toml").station.id == "st-pool-mangkang-01"
    # the installer fixes what failed (here: no broker listens) and tests again on its own
    assert "checks failed" in done.output and "presensi station self-test" in done.output
    again = CliRunner().invoke(
        main, ["station", "self-test", "--config", str(etc / "station.toml")]
    )
    assert again.exit_code == 1, again.output
    assert "Self-test of station st-pool-mangkang-01" in again.output
    assert re.search(r"\n  \S+ broker +.*127\.0\.0\.1", again.output), again.output
    # the card: the secrets are gone, a note says what happened
    assert not card.exists()
    note = (boot / MARKER).read_text()
    assert "st-pool-mangkang-01" in note and str(etc) in note
    assert find_boot_bundle((card,)) is None  # the unit's condition is false on the next boot
    again = CliRunner().invoke(
        main, ["station", "install-bundle", "--config-dir", str(etc), "--from", str(card)]
    )
    assert again.exit_code == 2  # a folder that is not there is an error, not a silent pass


@pytest.mark.parametrize("damage", ["edited", "missing", "bad manifest"])
def test_a_damaged_bundle_is_refused_and_changes_nothing(
    org: Org, tmp_path: Path, damage: str
) -> None:
    old = enroll(org, "pool-mangkang")
    etc = tmp_path / "etc" / "presensi"
    assert install(copy_to_card(old, tmp_path / "boot1"), etc, "--no-self-test").exit_code == 0
    before = {p.name: p.read_bytes() for p in etc.iterdir()}
    changed = CliRunner().invoke(
        main,
        [
            *("provision", "station-hardware", "--org", str(org.path), old.name),
            *("--indicator", "console", "--mode", "in"),
        ],
    )
    assert changed.exit_code == 0, changed.output
    card = copy_to_card(old, tmp_path / "boot2")
    if damage == "edited":
        text = (card / "station.toml").read_text().replace('mode = "in"', 'mode = "out"')
        (card / "station.toml").write_text(text)
        expected = "station.toml does not match its SHA-256"
    elif damage == "missing":
        (card / "station.key").unlink()
        expected = "station.key is listed in manifest.json but is not on the card"
    else:
        (card / "manifest.json").write_text("{not json")
        expected = "manifest.json is not JSON"
    refused = install(card, etc, "--no-self-test")
    assert refused.exit_code == 2
    assert expected in refused.output and "nothing was installed" in refused.output
    assert {p.name: p.read_bytes() for p in etc.iterdir()} == before
    assert card.is_dir()  # left on the card for the installer to look at
    assert not [p for p in etc.parent.iterdir() if p.name.startswith(".presensi.staging")]


def test_a_bundle_for_another_station_needs_replace(org: Org, tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "presensi"
    first = enroll(org, "pool-mangkang")
    assert install(copy_to_card(first, tmp_path / "b1"), etc, "--no-self-test").exit_code == 0
    other = copy_to_card(enroll(org, "term-terboyo"), tmp_path / "b2")
    refused = install(other, etc, "--no-self-test")
    assert refused.exit_code == 2
    assert "already provisioned as 'st-pool-mangkang-01'" in refused.output
    assert "--replace" in refused.output
    assert station_config.load(etc / "station.toml").station.id == "st-pool-mangkang-01"
    (etc / "notes.txt").write_text("kept: not part of any bundle")
    replaced = install(other, etc, "--no-self-test", "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert station_config.load(etc / "station.toml").station.id == "st-term-terboyo-01"
    assert (etc / "notes.txt").read_text() == "kept: not part of any bundle"
    previous = etc.with_name(".presensi.previous")
    assert station_config.load(previous / "station.toml").station.id == "st-pool-mangkang-01"


def test_no_bundle_on_the_card_is_nothing_to_do(tmp_path: Path) -> None:
    assert find_boot_bundle((tmp_path / "firmware" / "presensi", tmp_path / "presensi")) is None


def test_the_first_boot_unit_runs_the_command_only_while_a_bundle_is_on_the_card() -> None:
    unit = (ROOT / "deploy/systemd/presensi-firstboot.service").read_text()
    assert "ConditionPathExists=|/boot/firmware/presensi/manifest.json" in unit
    assert "ConditionPathExists=|/boot/presensi/manifest.json" in unit
    assert "Before=presensi-station.service presensi-provision.service" in unit
    exec_line = unit.split("ExecStart=")[1].split("\n\n")[0].replace("\\\n", " ")
    args = exec_line.split()
    assert args[0] == "/opt/presensi/venv/bin/presensi"
    assert args[1:3] == ["station", "install-bundle"]
    # the unit's command line is one the CLI takes
    help_run = CliRunner().invoke(main, [*args[1:], "--help"])
    assert help_run.exit_code == 0, help_run.output
