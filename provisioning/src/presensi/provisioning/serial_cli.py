"""``presensi provision flash --port DEV --station ID [--org DIR] [--replace]``: the installer's
laptop side of serial provisioning (the station runs ``presensi station provision-agent``).

Errors print ``error: ...`` and exit with status 2. ``flash`` exits 0 when the station is
provisioned and every self-test check passed, 1 when it is provisioned but a check failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from presensi.device.selftest import can_encode, format_report
from presensi.hardware.errors import HardwareError
from presensi.protocol.cli import fail as _fail
from presensi.protocol.errors import ProtocolError
from presensi.provisioning.cli_options import org_option
from presensi.provisioning.errors import ProvisioningError

EXIT_CHECKS_FAILED = 1


# -- the laptop ------------------------------------------------------------------------------------


@click.command("flash")
@click.option(
    "--port", required=True, help="The serial port of the cable, e.g. /dev/ttyUSB0 or /dev/ttyACM0."
)
@click.option("--station", "station_id", required=True, help="The id of the station to flash.")
@org_option  # the bundle is ORG/stations/ID/
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Flash this bundle folder instead of ORG/stations/ID/.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Re-purpose a station that is already provisioned under another id.",
)
@click.option("--baudrate", type=click.IntRange(1200, 4_000_000), default=115200, show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each answer of the station.",
)
def flash(
    port: str,
    station_id: str,
    org_dir: Path,
    bundle_dir: Path | None,
    replace: bool,
    baudrate: int,
    timeout: float,
) -> None:
    """Send a station's enrollment bundle over a serial cable and show its self-test.

    The station must run `presensi station provision-agent` on the other end of the cable.
    It keeps its previous config unless the whole bundle arrived intact and validated.
    """
    from presensi.provisioning.serial_flash import flash as flash_bundle

    folder = bundle_dir if bundle_dir is not None else org_dir / "stations" / station_id
    try:
        report = flash_bundle(
            port,
            folder,
            station_id,
            replace=replace,
            timeout=timeout,
            baudrate=baudrate,
            progress=lambda line: click.echo(f"  {line}"),
        )
    except (ProvisioningError, ProtocolError, HardwareError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail("interrupted; the station keeps its previous config unless it confirmed the install")
    click.echo(format_report(report, unicode=can_encode("✔✘")))
    click.echo(f"Report saved to {report['report_file']}")
    if not report.get("ok"):
        sys.exit(EXIT_CHECKS_FAILED)
