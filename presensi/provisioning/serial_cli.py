"""Serial provisioning commands, as standalone click commands registered by the CLI groups:

* ``flash``: ``presensi provision flash --port DEV --station ID [--org DIR] [--replace]`` on the
  installer's laptop;
* ``provision_agent``: ``presensi station provision-agent --port DEV --config-dir DIR`` on the
  station.

Errors print ``error: ...`` and exit with status 2. ``flash`` exits 0 when the station is
provisioned and every self-test check passed, 1 when it is provisioned but a check failed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from presensi.cli import fail as _fail
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
    except ProvisioningError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail("interrupted; the station keeps its previous config unless it confirmed the install")
    click.echo(format_report(report, unicode=_can_encode("✔✘")))
    click.echo(f"Report saved to {report['report_file']}")
    if not report.get("ok"):
        sys.exit(EXIT_CHECKS_FAILED)


def format_report(report: dict[str, Any], *, unicode: bool = True) -> str:
    """The self-test report as a table: one line per check, ✔ or ✘ (OK/FAIL without Unicode)."""
    good, bad = ("✔", "✘") if unicode else ("OK  ", "FAIL")
    checks = [c for c in report.get("checks", []) if isinstance(c, dict)]
    width = max((len(str(c.get("name", ""))) for c in checks), default=0)
    station = report.get("station_id") or "?"
    hardware = report.get("hardware_serial", "?")
    agent = report.get("agent_version", "?")
    lines = [
        f"Self-test of station {station} (hardware {hardware}, agent {agent}, "
        f"{report.get('time', '?')}):"
    ]
    for check in checks:
        mark = good if check.get("ok") else bad
        name = str(check.get("name", "?")).ljust(width)
        lines.append(f"  {mark} {name}  {check.get('detail', '')} ({check.get('ms', '?')} ms)")
    failed = sum(1 for c in checks if not c.get("ok"))
    if failed:
        lines.append(
            f"{failed} of {len(checks)} checks failed. The station is provisioned; "
            "fix what failed and run the flash again to re-test"
        )
    else:
        lines.append(f"All {len(checks)} checks passed.")
    return "\n".join(lines)


def _can_encode(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None)
    try:
        text.encode(str(encoding or "utf-8"))
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# -- the station -----------------------------------------------------------------------------------


@click.command("provision-agent")
@click.option(
    "--port",
    required=True,
    help="The serial port to listen on: /dev/ttyGS0 (USB gadget) or /dev/serial0 (UART).",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/etc/presensi"),
    show_default=True,
    help="The station's config folder, replaced as a whole by a new bundle.",
)
@click.option("--baudrate", type=click.IntRange(1200, 4_000_000), default=115200, show_default=True)
@click.option(
    "--group",
    default=None,
    help="Group given the installed files (default: that of the current config folder).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="Drop a transfer after this many seconds without a frame (cable pulled).",
)
@click.option("--once", is_flag=True, help="Exit after the first successful provisioning.")
def provision_agent(
    port: str,
    config_dir: Path,
    baudrate: int,
    group: str | None,
    idle_timeout: float,
    once: bool,
) -> None:
    """Wait on a serial port for an installer's `presensi provision flash`.

    Installs the bundle it sends as the config folder (atomically: on any failure the previous
    config stays), runs the self-test and sends the report back. Runs until stopped (SIGTERM,
    Ctrl-C), or with --once until one station config is installed.
    """
    from presensi.provisioning.serial_agent import ProvisioningAgent

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        agent = ProvisioningAgent(
            port, config_dir, baudrate=baudrate, group=group, idle_timeout=idle_timeout
        )
    except ValueError as exc:
        _fail(exc)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
    try:
        report = agent.serve(stop, once=once)
    except KeyboardInterrupt:
        report = None
    if once and report is not None:
        click.echo(format_report(report, unicode=_can_encode("✔✘")))
