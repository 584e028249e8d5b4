"""The `presensi` command, gathered from the parts that are installed.

Every part registers its command groups as entry points in the group ``presensi.commands``
(``station = "presensi.device.cli:station"``); a dotted name adds a command to another part's
group (``hub.bench`` puts ``bench`` under ``presensi hub``). So a station's install shows the
station's commands only, and a group of a part that is not installed says which distribution
to install instead of failing with a traceback. The launcher lives in presensi-protocol because
that is the one part every install has; it imports a part's command module only when that
group is listed or run, and those modules import their heavy dependencies inside the commands.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from typing import NoReturn

import click

from presensi.protocol.parts import installed_parts

ENTRY_POINTS = "presensi.commands"
# The groups a part provides, and the distribution to install for each: what `presensi hub`
# says on a station. A part adding a group adds it here too (tests check the two agree).
PROVIDERS = {
    "station": "presensi-device",
    "hub": "presensi-hub",
    "provision": "presensi-provisioning",
    "badge": "presensi-provisioning",
    "demo": "presensi-demo",
}
EXIT_USAGE = 2


def fail(message: object) -> NoReturn:
    """A user-facing error: one line on stderr, exit status 2 (every command group uses it)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINTS)}


def _load(entry: importlib.metadata.EntryPoint) -> click.Command:
    try:
        command = entry.load()
    except ImportError as exc:  # a broken install: a dependency of the part is missing
        owner = entry.dist.name if entry.dist else "its distribution"
        fail(f"`presensi {entry.name}` cannot start: {exc}. Fix: reinstall {owner}")
    if not isinstance(command, click.Command):
        fail(f"entry point {entry.value} is not a click command")
    return command


class PartsGroup(click.Group):
    """The top-level group: its commands are the entry points of the installed parts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _entry_points() if "." not in name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entries = _entry_points()
        entry = entries.get(cmd_name)
        if entry is None:
            provider = PROVIDERS.get(cmd_name)
            if provider is not None:
                fail(f"`presensi {cmd_name}` is not installed here: pip install {provider}")
            return None
        command = _load(entry)
        if isinstance(command, click.Group):
            for name, extra in sorted(entries.items()):
                group, _, sub = name.partition(".")
                if group == cmd_name and sub and sub not in command.commands:
                    command.add_command(_load(extra), sub)
        return command


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for name, version in installed_parts().items():
        click.echo(f"{name} {version}")
    ctx.exit()


@click.group(cls=PartsGroup)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the installed Presensi parts and their versions, and exit.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Presensi: offline-first QR attendance. The commands are those of the installed parts."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
