"""Options shared by the admin commands (`presensi provision`, `presensi badge`)."""

from __future__ import annotations

from pathlib import Path

import click

ORG_ENV = "PRESENSI_ORG"

org_option = click.option(
    "--org",
    "org_dir",
    envvar=ORG_ENV,
    default="org",
    show_default=f"${ORG_ENV} or ./org",
    type=click.Path(file_okay=False, path_type=Path),
    help="The organisation folder (docs/org-folder.md).",
)
