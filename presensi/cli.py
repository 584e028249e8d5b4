"""The `presensi` command. Each group is imported only when used, so a station never loads the
hub's web stack and `presensi --help` stays fast."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import NoReturn

import click

from presensi import __version__

GROUPS = {
    "station": ("presensi.device.cli", "station", "Run and inspect a scanning station."),
    "hub": ("presensi.hub.cli", "hub", "Run the hub, show the fleet, import exported journals."),
    "provision": ("presensi.provisioning.cli", "provision", "Enroll stations, broker credentials."),
    "badge": ("presensi.provisioning.badge_cli", "badge", "Issue, revoke and verify badges."),
    "demo": ("presensi.demo", "demo", "Broker, hub and simulated stations on this machine."),
}


def fail(message: object) -> NoReturn:
    """A user-facing error: one line on stderr, exit status 2 (every command group uses it)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in GROUPS:
            return None
        module, attr, _ = GROUPS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in sorted(GROUPS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="presensi")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Presensi: offline-first QR attendance."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
