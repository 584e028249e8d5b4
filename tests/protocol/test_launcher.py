"""The `presensi` launcher without the slow packaging test: a group whose part is not installed,
a part that cannot start (a dependency missing), and an entry point that is no command are each
one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import importlib.metadata

import pytest
from click.testing import CliRunner, Result

from presensi.protocol import cli
from presensi.protocol.cli import ENTRY_POINTS, main


def entry(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=ENTRY_POINTS)


def launch(
    monkeypatch: pytest.MonkeyPatch, entries: list[importlib.metadata.EntryPoint], *args: str
) -> Result:
    monkeypatch.setattr(cli, "_entry_points", lambda: {e.name: e for e in entries})
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_group_of_a_part_not_installed_names_the_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    station_only = [entry("station", "presensi.device.cli:station")]
    for group, dist in (("hub", "presensi-hub"), ("provision", "presensi-provisioning")):
        result = launch(monkeypatch, station_only, group, "stations")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"error: `presensi {group}` is not installed here: pip install {dist}"
        ]
    listed = launch(monkeypatch, station_only, "--help")
    assert listed.exit_code == 0 and "station" in listed.output and "hub" not in listed.output


def test_a_part_that_cannot_start_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = [entry("hub", "presensi_part_not_here.cli:hub")]  # its module cannot be imported
    result = launch(monkeypatch, broken, "hub", "stations")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: `presensi hub` cannot start: No module named 'presensi_part_not_here'. "
        "Fix: reinstall its distribution"
    ]
    assert "Traceback" not in result.output


def test_a_missing_part_of_a_subcommand_is_caught_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hub.bench` style entries add a command to another part's group: a broken one is the
    same one line when that group is run."""
    entries = [
        entry("station", "presensi.device.cli:station"),
        entry("station.extra", "presensi_part_not_here:extra"),
    ]
    result = launch(monkeypatch, entries, "station", "--help")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: `presensi station.extra` cannot start: No module")


def test_an_entry_point_that_is_no_command_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    result = launch(monkeypatch, [entry("hub", "os:sep")], "hub")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: entry point os:sep is not a click command"]


def test_an_unknown_group_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = launch(monkeypatch, [], "nonsense")
    assert result.exit_code == 2 and "No such command 'nonsense'" in result.output
