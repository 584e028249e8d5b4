"""The systemd units in deploy/systemd/ run commands that exist, with options they take, at the
paths the install guide (docs/install.md) creates."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from presensi.protocol.cli import main

ROOT = Path(__file__).parents[1]
UNITS = sorted((ROOT / "deploy/systemd").glob("*.service"))
VENV = "/opt/presensi/venv/bin/presensi"


def service_section(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = unit.read_text().replace("\\\n", " ")
    # systemd allows repeated keys (ConditionPathExists=|...); keep the last for this check
    parser.read_string(text)
    return parser["Service"]


def test_every_unit_is_checked() -> None:
    names = {u.name for u in UNITS}
    expected = {"presensi-firstboot.service", "presensi-hub.service"}
    expected |= {"presensi-provision.service", "presensi-station.service"}
    expected |= {"presensi-hub-web.service", "presensi-attendance.service"}
    assert names == expected


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_the_unit_runs_a_presensi_command_it_takes(unit: Path) -> None:
    argv = shlex.split(service_section(unit)["ExecStart"])
    assert argv[0] == VENV  # the venv docs/install.md creates
    # click parses every option before --help acts: an option it does not know fails here
    done = CliRunner().invoke(main, [*argv[1:], "--help"])
    assert done.exit_code == 0, f"{unit.name}: {' '.join(argv)}\n{done.output}"


def test_the_installed_docs_name_every_unit() -> None:
    guide = (ROOT / "docs/install.md").read_text()
    for unit in UNITS:
        assert unit.name in guide, unit.name
